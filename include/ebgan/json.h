/* Tiny JSON output helpers: string escaping, a one-line object builder, and an append-only JSONL file
 * (metrics.jsonl: one object per logged step, readable while the run is going and after a crash). */
#ifndef EBGAN_JSON_H
#define EBGAN_JSON_H

#include <stddef.h>
#include <stdint.h>
#include "ebgan/status.h"

/* Writes `src` as the body of a JSON string (no quotes) into dst (cap bytes, always NUL-terminated when
 * cap > 0). Escapes '"', '\\' and control characters; invalid UTF-8 bytes become \ufffd.
 * Returns the length the full output needs (excluding NUL), like snprintf. */
size_t eb_json_escape(char *dst, size_t cap, const char *src);

/* Length of the longest valid UTF-8 prefix of s[0..n) (== n when all of it is valid). */
size_t eb_utf8_valid_len(const char *s, size_t n);

/* A single JSON object built on a fixed buffer: begin, then add members, then end.
 * An overflow is remembered and reported by eb_jsonl_append, never truncated silently. */
#define EB_JSON_LINE_MAX 8192
typedef struct eb_json_line {
    char buf[EB_JSON_LINE_MAX];
    size_t len;      /* bytes used in buf (excluding NUL) */
    int members;     /* members added so far (decides the comma) */
    int overflow;    /* 1 once something did not fit */
} eb_json_line;

void eb_json_line_begin(eb_json_line *l);                               /* "{" */
/* A number in the shortest form that reads back to the same double; NaN and +-Inf become null
 * (JSON has no such numbers; readers such as pandas map null back to NaN). */
void eb_json_line_num(eb_json_line *l, const char *key, double v);
void eb_json_line_int(eb_json_line *l, const char *key, int64_t v);
void eb_json_line_str(eb_json_line *l, const char *key, const char *v);
void eb_json_line_bool(eb_json_line *l, const char *key, int v);
void eb_json_line_end(eb_json_line *l);                                 /* "}" */

/* An append-only .jsonl file. Each append is one write(2) of "<line>\n" on an O_APPEND descriptor (so a
 * crash leaves whole lines, plus at worst one partial last line), optionally followed by fsync. */
typedef struct eb_jsonl {
    int fd;                    /* -1 when closed */
    int fsync_each;            /* 1: fsync after every line (durable; slower on network file systems) */
    char path[4096];
} eb_jsonl;

/* Opens (creating if needed) for appending. If the file ends in a partial line (a crash mid-write),
 * a newline is appended first so every following line parses. */
eb_status eb_jsonl_open(eb_jsonl *j, const char *path, int fsync_each);
/* Appends the finished line. EB_ERR_ARG if the line overflowed, EB_ERR_IO if the write fails. */
eb_status eb_jsonl_append(eb_jsonl *j, const eb_json_line *l);
/* Appends a caller-made JSON text (must contain no newline). */
eb_status eb_jsonl_append_text(eb_jsonl *j, const char *text);
/* fsync now (for callers that append with fsync_each = 0 and sync at checkpoints). */
eb_status eb_jsonl_sync(eb_jsonl *j);
void eb_jsonl_close(eb_jsonl *j);

#endif
