/* Reading a JSON request body, as every endpoint with one does: strict
 * JSON (json-c), one object; members read by name with their type
 * checked, absent and null alike meaning "not given" (ch-remote sends
 * whole structs with nulls); one error message, naming the field as
 * "<prefix><key>" ("memory.size", "net[1].mac"). */
#ifndef KVMBOX_API_JSON_READ_H
#define KVMBOX_API_JSON_READ_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_read {
    char *err;        /* the first error goes here */
    size_t errlen;
};

/* Formats the error; returns -1. */
int json_fail(struct json_read *jr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The body as one JSON object (strict, valid UTF-8, nothing after it);
 * NULL with the error, which calls the object `what` ("a VmConfig"). */
json_object *json_read_object(struct json_read *jr, const char *body, size_t len, const char *what);
/* o's member `key`, or NULL when absent or null. */
json_object *json_member(json_object *o, const char *key);
/* Each leaves *out as it was when the member is absent; -1 on a wrong type. */
int json_get_bool(struct json_read *jr, json_object *o, const char *prefix, const char *key,
                  bool *out);
/* *given says whether it was there (JSON integers only: 2.0 is refused). */
int json_get_int(struct json_read *jr, json_object *o, const char *prefix, const char *key,
                 int64_t *out, bool *given);
/* A string without NUL characters (which would cut it short in C); *s is
 * NULL when absent. The string lives as long as o. */
int json_get_string(struct json_read *jr, json_object *o, const char *prefix, const char *key,
                    const char **s, size_t *len);
/* An object or array member; *out is NULL when absent. */
int json_get_typed(struct json_read *jr, json_object *o, const char *prefix, const char *key,
                   json_type type, json_object **out);

#endif
