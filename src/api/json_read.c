#include "api/json_read.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int json_fail(struct json_read *jr, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(jr->err, jr->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

json_object *json_member(json_object *o, const char *key)
{
    json_object *v = NULL;
    return json_object_object_get_ex(o, key, &v) ? v : NULL;
}

int json_get_bool(struct json_read *jr, json_object *o, const char *prefix, const char *key,
                  bool *out)
{
    json_object *v = json_member(o, key);
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_boolean))
        return json_fail(jr, "%s%s: expected true or false", prefix, key);
    *out = json_object_get_boolean(v);
    return 0;
}

int json_get_int(struct json_read *jr, json_object *o, const char *prefix, const char *key,
                 int64_t *out, bool *given)
{
    json_object *v = json_member(o, key);
    *given = v != NULL;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_int))
        return json_fail(jr, "%s%s: expected an integer", prefix, key);
    *out = json_object_get_int64(v);   /* beyond int64: INT64_MAX, too large anyway */
    return 0;
}

int json_get_string(struct json_read *jr, json_object *o, const char *prefix, const char *key,
                    const char **s, size_t *len)
{
    json_object *v = json_member(o, key);
    *s = NULL;
    *len = 0;
    if (!v)
        return 0;
    if (!json_object_is_type(v, json_type_string))
        return json_fail(jr, "%s%s: expected a string", prefix, key);
    *s = json_object_get_string(v);
    *len = (size_t)json_object_get_string_len(v);
    if (strlen(*s) != *len)
        return json_fail(jr, "%s%s: contains a NUL character", prefix, key);
    return 0;
}

int json_get_typed(struct json_read *jr, json_object *o, const char *prefix, const char *key,
                   json_type type, json_object **out)
{
    *out = json_member(o, key);
    if (*out && !json_object_is_type(*out, type))
        return json_fail(jr, "%s%s: expected %s", prefix, key,
                         type == json_type_object ? "an object" : "an array");
    return 0;
}

json_object *json_read_object(struct json_read *jr, const char *body, size_t len, const char *what)
{
    if (len > INT_MAX) {
        json_fail(jr, "the body is too large");
        return NULL;
    }
    json_tokener *tok = json_tokener_new();
    if (!tok) {
        json_fail(jr, "out of memory");
        return NULL;
    }
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
    json_object *root = json_tokener_parse_ex(tok, body, (int)len);
    enum json_tokener_error e = json_tokener_get_error(tok);
    size_t end = json_tokener_get_parse_end(tok);
    /* A bare number or literal ("null") may go on in a next piece: a NUL
     * says there is none (the body need not end with one). */
    if (e == json_tokener_continue && len) {
        root = json_tokener_parse_ex(tok, "", 1);
        e = json_tokener_get_error(tok) == json_tokener_success ? json_tokener_success
                                                                 : json_tokener_continue;
    }
    while (e == json_tokener_success && end < len && memchr(" \t\r\n", body[end], 4))
        end++;
    if (e == json_tokener_continue)
        json_fail(jr, "the body is not JSON: it ends early");
    else if (e != json_tokener_success)
        json_fail(jr, "the body is not JSON: %s at offset %zu", json_tokener_error_desc(e), end);
    else if (end < len)
        json_fail(jr, "the body is not JSON: more after the value, at offset %zu", end);
    else if (!json_object_is_type(root, json_type_object))
        json_fail(jr, "the body must be a JSON object (%s)", what);
    else {
        json_tokener_free(tok);
        return root;
    }
    json_object_put(root);
    json_tokener_free(tok);
    return NULL;
}
