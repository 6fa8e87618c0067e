/* The KEY=VALUE,... lists of the command line's device options (--disk,
 * --net, --memory, --restore): walking the items and the rules they all
 * share, so that each option reads only its own keys. */
#ifndef KVMBOX_CLI_KV_H
#define KVMBOX_CLI_KV_H

#include <stdbool.h>
#include <stddef.h>

/* One item of a comma-separated option: "key=value", or a bare "value"
 * (key NULL). */
struct kv {
    const char *key, *val;
    size_t klen, vlen;
};

/* *p walks the option's value from its start and is NULL after the last
 * item, so that a trailing comma yields a last, empty item (which
 * kv_check_items refuses) rather than nothing. */
bool kv_next(const char **p, struct kv *kv);
bool kv_is(const struct kv *kv, const char *key);
bool kv_val_is(const struct kv *kv, const char *val);
/* Copies the value into a string of `size` bytes; false if it is empty
 * or does not fit. */
bool kv_copy(const struct kv *kv, char *dst, size_t size);
/* The rules every KEY=VALUE option shares, checked before its items are
 * read: no empty item (a stray comma), no "=VALUE" without a key, no
 * "KEY=" without a value, and no key given twice, except those named in
 * `repeatable` (space-separated; may be NULL), which add one more each
 * time. */
int kv_check_items(const char *opt, const char *arg, const char *repeatable, char *err,
                   size_t errlen);
/* on or off into *out; else -1 with the message. */
int kv_on_off(const char *opt, const char *arg, const struct kv *kv, bool *out, char *err,
              size_t errlen);
/* The message for a key the option does not have (`known` lists those it
 * has); returns -1. */
int kv_unknown_key(const char *opt, const char *arg, const struct kv *kv, const char *known,
                   char *err, size_t errlen);

#endif
