package io.vigil.peers.kstreams; public class PeerMain { public static void main(String[] a) {} }
