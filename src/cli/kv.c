#include "cli/kv.h"

#include <stdio.h>
#include <string.h>

/* *p walks the option's value from its start and is NULL after the last
 * item, so that a trailing comma yields a last, empty item (which
 * kv_check_items refuses) rather than nothing. */
bool kv_next(const char **p, struct kv *kv)
{
    if (!*p)
        return false;
    const char *end = strchr(*p, ',');
    size_t n = end ? (size_t)(end - *p) : strlen(*p);
    const char *eq = memchr(*p, '=', n);
    kv->key = eq ? *p : NULL;
    kv->klen = eq ? (size_t)(eq - *p) : 0;
    kv->val = eq ? eq + 1 : *p;
    kv->vlen = eq ? n - kv->klen - 1 : n;
    *p = end ? end + 1 : NULL;
    return true;
}

bool kv_is(const struct kv *kv, const char *key)
{
    return kv->key && kv->klen == strlen(key) && !strncmp(kv->key, key, kv->klen);
}

/* Whether kv's key is one of the space-separated names in `list`. */
static bool key_in(const struct kv *kv, const char *list)
{
    for (const char *p = list; *p;) {
        size_t n = strcspn(p, " ");
        if (n == kv->klen && !strncmp(p, kv->key, n))
            return true;
        p += n + (p[n] == ' ');
    }
    return false;
}

int kv_check_items(const char *opt, const char *arg, const char *repeatable, char *err,
                   size_t errlen)
{
    const char *p = arg;
    struct kv kv;
    while (kv_next(&p, &kv)) {
        if (!kv.key && !kv.vlen) {
            snprintf(err, errlen, "%s '%s': empty item (a stray comma?)", opt, arg);
            return -1;
        }
        if (kv.key && !kv.klen) {
            snprintf(err, errlen, "%s '%s': '=%.*s' has no key before the '='", opt, arg,
                     (int)kv.vlen, kv.val);
            return -1;
        }
        if (kv.key && !kv.vlen) {
            snprintf(err, errlen, "%s '%s': %.*s= has no value", opt, arg, (int)kv.klen, kv.key);
            return -1;
        }
        if (!kv.key || (repeatable && key_in(&kv, repeatable)))
            continue;
        const char *q = arg;
        struct kv prev;
        while (kv_next(&q, &prev) && prev.key != kv.key) {
            if (prev.key && prev.klen == kv.klen && !strncmp(prev.key, kv.key, kv.klen)) {
                snprintf(err, errlen, "%s '%s': %.*s= given twice", opt, arg, (int)kv.klen,
                         kv.key);
                return -1;
            }
        }
    }
    return 0;
}

bool kv_val_is(const struct kv *kv, const char *val)
{
    return kv->vlen == strlen(val) && !strncmp(kv->val, val, kv->vlen);
}

/* Copies the value into a string of `size` bytes; false if it is empty
 * or does not fit. */
bool kv_copy(const struct kv *kv, char *dst, size_t size)
{
    if (kv->vlen == 0 || kv->vlen >= size)
        return false;
    memcpy(dst, kv->val, kv->vlen);
    dst[kv->vlen] = 0;
    return true;
}

int kv_on_off(const char *opt, const char *arg, const struct kv *kv, bool *out, char *err,
              size_t errlen)
{
    if (kv_val_is(kv, "on") || kv_val_is(kv, "off")) {
        *out = kv_val_is(kv, "on");
        return 0;
    }
    snprintf(err, errlen, "%s '%s': %.*s= takes on or off", opt, arg, (int)kv->klen, kv->key);
    return -1;
}

int kv_unknown_key(const char *opt, const char *arg, const struct kv *kv, const char *known,
                   char *err, size_t errlen)
{
    if (kv->key)
        snprintf(err, errlen, "%s '%s': unknown key '%.*s' (%s)", opt, arg, (int)kv->klen,
                 kv->key, known);
    else
        snprintf(err, errlen, "%s '%s': unexpected '%.*s' (expected KEY=VALUE with one of: %s)",
                 opt, arg, (int)kv->vlen, kv->val, known);
    return -1;
}
