/*
 * vg_str.h - the bounded string copy of the hot path.
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

#endif
