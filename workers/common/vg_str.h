/*
 * vg_str.h - the bounded string copy and the name comparison of the hot path.
 */
#ifndef VG_STR_H
#define VG_STR_H

#include <stddef.h>
#include <string.h>

/* src into dst of cap bytes (cap > 0), cut at cap - 1 and always
 * terminated; NULL copies as "". A plain copy: snprintf's formatting
 * machinery cost more than the work around it where this runs per event. */
static inline void vg_str_copy(char *dst, size_t cap, const char *src) {
    size_t n = src ? strnlen(src, cap - 1) : 0;

    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

/* strcmp(a, b) == 0, the first bytes compared inline: where names are
 * looked up per event, most candidates differ there, and the call into
 * strcmp cost more than the comparison. */
static inline int vg_str_eq(const char *a, const char *b) {
    return a[0] == b[0] && (a[0] == '\0' || strcmp(a + 1, b + 1) == 0);
}

#endif
