package io.vigil.peers.kstreams;

import com.google.protobuf.InvalidProtocolBufferException;
import java.util.ArrayList;
import java.util.List;
import vigil.v1.Event.Descriptive;
import vigil.v1.State.CustomerState;
import vigil.v1.State.FireLedger;
import vigil.v1.State.PendingAbsence;
import vigil.v1.State.SequenceProgress;
import vigil.v1.State.TroubleWindow;

/**
 * One customer's state, as the rules mutate it: the same parts and bounds as
 * Vigil's vg_state_t (workers/core/vg_state.h) that the default model's event
 * decisions read. Stored in the RocksDB store as the project's own
 * vigil.v1.CustomerState protobuf (schemas/vigil/v1/state.proto).
 */
final class PeerState {
    static final int MAX_TROUBLES = 8;
    static final int WINDOW_MAX = 8;
    static final int MAX_LEDGERS = 8;
    static final int LEDGER_MAX = 8;
    static final int MAX_SEQUENCES = 4;
    static final int SEQ_STEPS = 4;
    static final int MAX_ABSENCES = 4;
    static final int RECENT_MAX = 16;

    /** Event times of one window's signal, oldest first (at most WINDOW_MAX). */
    static final class Window {
        String kind;
        int n;
        final long[] times = new long[WINDOW_MAX];
        final int[] channels = new int[WINDOW_MAX];
        final String[] ids = new String[WINDOW_MAX];

        long last() {
            return times[n - 1];
        }
    }

    /** Fire times of one (intervention, channel), newest last. */
    static final class Ledger {
        String intervention;
        int channel;
        int n;
        final long[] fired = new long[LEDGER_MAX];
    }

    static final class Sequence {
        String name;
        int progress;
        long startMs;
        final String[] ids = new String[SEQ_STEPS];
        final int[] channels = new int[SEQ_STEPS];
    }

    /** A started absence ("checkout started, no payment within 10 minutes"). */
    static final class Absence {
        String name;
        long startMs, dueMs;
        int channel;
        String eventId;
    }

    long lastEventMs;
    long eventsApplied;
    final List<String> consents = new ArrayList<>();
    int valueTier;
    int tenureMonths;
    double revenueWeight;
    double churnRisk;
    final List<Window> troubles = new ArrayList<>();
    final List<Sequence> sequences = new ArrayList<>();
    final List<Absence> absences = new ArrayList<>();
    final List<Ledger> ledgers = new ArrayList<>();
    int nRecent;
    final long[] recent = new long[RECENT_MAX];

    // --- the parts (vg_state_window, vg_state_ledger, vg_state_sequence, ...)

    Window findWindow(String kind) {
        for (Window w : troubles)
            if (w.kind.equals(kind))
                return w;
        return null;
    }

    /** Find or create; when full, the window whose newest entry is oldest is recycled. */
    Window window(String kind) {
        Window w = findWindow(kind), oldest = null;
        long oldestT = Long.MAX_VALUE;

        if (w != null)
            return w;
        for (Window x : troubles) {
            long t = x.n > 0 ? x.last() : Long.MIN_VALUE;
            if (t < oldestT) {
                oldestT = t;
                oldest = x;
            }
        }
        if (troubles.size() < MAX_TROUBLES) {
            w = new Window();
            troubles.add(w);
        } else {
            w = oldest;
        }
        w.kind = kind;
        w.n = 0;
        return w;
    }

    Ledger ledger(String intervention, int channel) {
        Ledger oldest = null;
        long oldestT = Long.MAX_VALUE;

        for (Ledger l : ledgers) {
            if (l.channel == channel && l.intervention.equals(intervention))
                return l;
            long t = l.n > 0 ? l.fired[l.n - 1] : Long.MIN_VALUE;
            if (t < oldestT) {
                oldestT = t;
                oldest = l;
            }
        }
        Ledger l;
        if (ledgers.size() < MAX_LEDGERS) {
            l = new Ledger();
            ledgers.add(l);
        } else {
            l = oldest;
        }
        l.intervention = intervention;
        l.channel = channel;
        l.n = 0;
        return l;
    }

    Sequence sequence(String name) {
        for (Sequence q : sequences)
            if (q.name.equals(name))
                return q;
        Sequence q;
        if (sequences.size() < MAX_SEQUENCES) {
            q = new Sequence();
            sequences.add(q);
        } else {
            q = sequences.get(0);
        }
        q.name = name;
        q.progress = 0;
        q.startMs = 0;
        return q;
    }

    Absence absence(String name) {
        for (Absence a : absences)
            if (a.name.equals(name))
                return a;
        return null;
    }

    /** Vigil removes by moving the last entry into the hole; order matters for ties. */
    void removeAbsence(Absence a) {
        int i = absences.indexOf(a), last = absences.size() - 1;
        absences.set(i, absences.get(last));
        absences.remove(last);
    }

    /** 64-bit FNV-1a of the id's UTF-8 bytes (workers/common/vg_hash.h). */
    static long eventHash(byte[] id) {
        long h = 0xcbf29ce484222325L;
        for (byte b : id)
            h = (h ^ (b & 0xff)) * 0x100000001b3L;
        return h;
    }

    boolean seenEvent(long h) {
        for (int i = 0; i < nRecent; i++)
            if (recent[i] == h)
                return true;
        return false;
    }

    void rememberEvent(long h) {
        if (nRecent == RECENT_MAX) {
            System.arraycopy(recent, 1, recent, 0, RECENT_MAX - 1);
            nRecent--;
        }
        recent[nRecent++] = h;
    }

    // --- stored form: vigil.v1.CustomerState

    byte[] encode() {
        CustomerState.Builder b = CustomerState.newBuilder()
                                      .setLastEventMs(lastEventMs)
                                      .setEventsApplied(eventsApplied)
                                      .addAllConsents(consents)
                                      .setDescriptive(Descriptive.newBuilder()
                                                          .setValueTierValue(valueTier)
                                                          .setTenureMonths(tenureMonths)
                                                          .setRevenueWeight(revenueWeight)
                                                          .setChurnRisk(churnRisk));
        for (Window w : troubles) {
            TroubleWindow.Builder tw = b.addTroublesBuilder().setKind(w.kind);
            for (int i = 0; i < w.n; i++)
                tw.addTimesMs(w.times[i]).addChannelsValue(w.channels[i]).addEventIds(w.ids[i]);
        }
        for (Ledger l : ledgers) {
            FireLedger.Builder fl = b.addLedgersBuilder().setIntervention(l.intervention).setChannelValue(l.channel);
            for (int i = 0; i < l.n; i++)
                fl.addFiredMs(l.fired[i]);
        }
        for (Sequence q : sequences) {
            SequenceProgress.Builder sp =
                b.addSequencesBuilder().setName(q.name).setProgress(q.progress).setStartMs(q.startMs);
            for (int i = 0; i < q.progress; i++)
                sp.addEventIds(q.ids[i]).addChannelsValue(q.channels[i]);
        }
        for (Absence a : absences)
            b.addAbsences(PendingAbsence.newBuilder()
                              .setName(a.name)
                              .setStartMs(a.startMs)
                              .setDueMs(a.dueMs)
                              .setChannelValue(a.channel)
                              .setEventId(a.eventId));
        for (int i = 0; i < nRecent; i++)
            b.addRecentEvents(recent[i]);
        return b.build().toByteArray();
    }

    static PeerState decode(byte[] buf) {
        PeerState st = new PeerState();
        CustomerState m;

        if (buf == null || buf.length == 0)
            return st;
        try {
            m = CustomerState.parseFrom(buf);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalStateException("stored state is not a CustomerState", e);
        }
        st.lastEventMs = m.getLastEventMs();
        st.eventsApplied = m.getEventsApplied();
        st.consents.addAll(m.getConsentsList());
        Descriptive d = m.getDescriptive();
        st.valueTier = d.getValueTierValue();
        st.tenureMonths = d.getTenureMonths();
        st.revenueWeight = d.getRevenueWeight();
        st.churnRisk = d.getChurnRisk();
        for (TroubleWindow tw : m.getTroublesList()) {
            Window w = new Window();
            w.kind = tw.getKind();
            w.n = tw.getTimesMsCount();
            for (int i = 0; i < w.n; i++) {
                w.times[i] = tw.getTimesMs(i);
                w.channels[i] = tw.getChannelsValue(i);
                w.ids[i] = tw.getEventIds(i);
            }
            st.troubles.add(w);
        }
        for (FireLedger fl : m.getLedgersList()) {
            Ledger l = new Ledger();
            l.intervention = fl.getIntervention();
            l.channel = fl.getChannelValue();
            l.n = fl.getFiredMsCount();
            for (int i = 0; i < l.n; i++)
                l.fired[i] = fl.getFiredMs(i);
            st.ledgers.add(l);
        }
        for (SequenceProgress sp : m.getSequencesList()) {
            Sequence q = new Sequence();
            q.name = sp.getName();
            q.progress = sp.getProgress();
            q.startMs = sp.getStartMs();
            for (int i = 0; i < q.progress; i++) {
                q.ids[i] = sp.getEventIds(i);
                q.channels[i] = sp.getChannelsValue(i);
            }
            st.sequences.add(q);
        }
        for (PendingAbsence pa : m.getAbsencesList()) {
            Absence a = new Absence();
            a.name = pa.getName();
            a.startMs = pa.getStartMs();
            a.dueMs = pa.getDueMs();
            a.channel = pa.getChannelValue();
            a.eventId = pa.getEventId();
            st.absences.add(a);
        }
        st.nRecent = m.getRecentEventsCount();
        for (int i = 0; i < st.nRecent; i++)
            st.recent[i] = m.getRecentEvents(i);
        return st;
    }
}
