/* JSON output helpers: escaping, a fixed-buffer one-object builder and the append-only metrics file.
 * Output only; the one JSON reader in the project is the safetensors header parser (safetensors.c). */
#define _XOPEN_SOURCE 700
#include "ebgan/json.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* Length (1-4) of the valid UTF-8 sequence at s[0..n), or 0 if it is not one (overlong forms,
 * surrogates and code points above U+10FFFF are invalid, as in RFC 3629). */
static size_t utf8_seq_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80) return 1;
    size_t len;
    unsigned lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c == 0xE0) { len = 3; lo = 0xA0; }
    else if (c >= 0xE1 && c <= 0xEC) len = 3;
    else if (c == 0xED) { len = 3; hi = 0x9F; }
    else if (c >= 0xEE && c <= 0xEF) len = 3;
    else if (c == 0xF0) { len = 4; lo = 0x90; }
    else if (c >= 0xF1 && c <= 0xF3) len = 4;
    else if (c == 0xF4) { len = 4; hi = 0x8F; }
    else return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < len; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return len;
}

size_t eb_utf8_valid_len(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_seq_len(u + i, n - i);
        if (k == 0) break;
        i += k;
    }
    return i;
}

/* Appends len bytes at *pos if they fit before the NUL slot; always advances *pos (snprintf semantics). */
static void esc_put(char *dst, size_t cap, size_t *pos, const char *s, size_t len) {
    for (size_t i = 0; i < len; i++, (*pos)++)
        if (*pos + 1 < cap) dst[*pos] = s[i];
}

size_t eb_json_escape(char *dst, size_t cap, const char *src) {
    const unsigned char *s = (const unsigned char *)src;
    size_t n = strlen(src), pos = 0, i = 0;
    while (i < n) {
        unsigned c = s[i];
        char tmp[8];
        if (c == '"' || c == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)c;
            esc_put(dst, cap, &pos, tmp, 2);
            i++;
        } else if (c < 0x20) {
            const char *shortform = c == '\n' ? "\\n" : c == '\t' ? "\\t" : c == '\r' ? "\\r"
                                  : c == '\b' ? "\\b" : c == '\f' ? "\\f" : NULL;
            if (shortform) esc_put(dst, cap, &pos, shortform, 2);
            else {
                snprintf(tmp, sizeof tmp, "\\u%04x", c);
                esc_put(dst, cap, &pos, tmp, 6);
            }
            i++;
        } else {
            size_t k = utf8_seq_len(s + i, n - i);
            if (k == 0) {
                esc_put(dst, cap, &pos, "\\ufffd", 6);
                i++;
            } else {
                esc_put(dst, cap, &pos, (const char *)s + i, k);
                i += k;
            }
        }
    }
    if (cap > 0) dst[pos < cap ? pos : cap - 1] = '\0';
    return pos;
}

/* ---- one-object builder ---- */

static void line_raw(eb_json_line *l, const char *s, size_t len) {
    if (l->overflow) return;
    if (l->len + len >= EB_JSON_LINE_MAX) {
        l->overflow = 1;
        return;
    }
    memcpy(l->buf + l->len, s, len);
    l->len += len;
    l->buf[l->len] = '\0';
}

static void line_string(eb_json_line *l, const char *s) {
    if (l->overflow) return;
    line_raw(l, "\"", 1);
    size_t room = EB_JSON_LINE_MAX - l->len;
    size_t need = eb_json_escape(l->buf + l->len, room, s);
    if (need + 1 >= room) { /* the closing quote and NUL must fit too */
        l->overflow = 1;
        l->buf[l->len] = '\0';
        return;
    }
    l->len += need;
    line_raw(l, "\"", 1);
}

static void line_key(eb_json_line *l, const char *key) {
    if (l->members++ > 0) line_raw(l, ",", 1);
    line_string(l, key);
    line_raw(l, ":", 1);
}

void eb_json_line_begin(eb_json_line *l) {
    l->len = 0;
    l->members = 0;
    l->overflow = 0;
    l->buf[0] = '\0';
    line_raw(l, "{", 1);
}

void eb_json_line_num(eb_json_line *l, const char *key, double v) {
    line_key(l, key);
    if (!isfinite(v)) {
        line_raw(l, "null", 4);
        return;
    }
    char tmp[40];
    /* Shortest %g form that round-trips: 0.1 stays "0.1", a float widened to double keeps its digits. */
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v) break;
    }
    line_raw(l, tmp, strlen(tmp));
}

void eb_json_line_int(eb_json_line *l, const char *key, int64_t v) {
    char tmp[32];
    line_key(l, key);
    int n = snprintf(tmp, sizeof tmp, "%" PRId64, v);
    line_raw(l, tmp, (size_t)n);
}

void eb_json_line_str(eb_json_line *l, const char *key, const char *v) {
    line_key(l, key);
    line_string(l, v ? v : "");
}

void eb_json_line_bool(eb_json_line *l, const char *key, int v) {
    line_key(l, key);
    if (v) line_raw(l, "true", 4);
    else line_raw(l, "false", 5);
}

void eb_json_line_end(eb_json_line *l) { line_raw(l, "}", 1); }

/* ---- append-only file ---- */

eb_status eb_jsonl_open(eb_jsonl *j, const char *path, int fsync_each) {
    j->fd = -1;
    j->fsync_each = fsync_each;
    if (strlen(path) >= sizeof j->path)
        return EB_FAIL(EB_ERR_ARG, "jsonl path longer than %zu bytes: %.200s", sizeof j->path - 1, path);
    strcpy(j->path, path);
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return EB_FAIL(EB_ERR_IO, "cannot open %s for appending: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return EB_FAIL(EB_ERR_IO, "cannot stat %s: %s", path, strerror(e));
    }
    if (sb.st_size > 0) {
        char last = '\n';
        if (pread(fd, &last, 1, sb.st_size - 1) != 1) {
            int e = errno;
            close(fd);
            return EB_FAIL(EB_ERR_IO, "cannot read %s: %s", path, strerror(e));
        }
        /* A crash mid-append left a partial line: terminate it so the next line stays parseable. */
        if (last != '\n' && write(fd, "\n", 1) != 1) {
            int e = errno;
            close(fd);
            return EB_FAIL(EB_ERR_IO, "cannot write %s: %s", path, strerror(e));
        }
    }
    j->fd = fd;
    return EB_OK;
}

static eb_status jsonl_write_line(eb_jsonl *j, const char *text, size_t len) {
    if (j->fd < 0) return EB_FAIL(EB_ERR_ARG, "append to %s: file not open", j->path);
    /* One writev on an O_APPEND descriptor: the line and its newline land together. */
    struct iovec iov[2] = {{(void *)text, len}, {(void *)"\n", 1}};
    size_t total = len + 1;
    struct stat sb;
    off_t before = fstat(j->fd, &sb) == 0 && S_ISREG(sb.st_mode) ? sb.st_size : -1;
    ssize_t n = writev(j->fd, iov, 2);
    if (n < 0) return EB_FAIL(EB_ERR_IO, "cannot append to %s: %s", j->path, strerror(errno));
    while ((size_t)n < total) { /* short write (disk nearly full, signal): finish or fail */
        size_t done = (size_t)n;
        const char *rest = done < len ? text + done : "\n";
        size_t rest_len = done < len ? len - done : 1;
        ssize_t m = write(j->fd, rest, rest_len);
        if (m <= 0) {
            int e = errno;
            /* never leave a torn line: cut the file back to where this line began */
            if (before >= 0 && ftruncate(j->fd, before) != 0) { /* nothing more can be done */ }
            return EB_FAIL(EB_ERR_IO, "cannot append to %s: %s", j->path, m < 0 ? strerror(e) : "short write");
        }
        n += m;
    }
    if (j->fsync_each) return eb_jsonl_sync(j);
    return EB_OK;
}

eb_status eb_jsonl_append(eb_jsonl *j, const eb_json_line *l) {
    if (l->overflow)
        return EB_FAIL(EB_ERR_ARG, "append to %s: JSON line longer than %d bytes", j->path, EB_JSON_LINE_MAX - 1);
    return jsonl_write_line(j, l->buf, l->len);
}

eb_status eb_jsonl_append_text(eb_jsonl *j, const char *text) {
    if (strchr(text, '\n')) return EB_FAIL(EB_ERR_ARG, "append to %s: text contains a newline", j->path);
    return jsonl_write_line(j, text, strlen(text));
}

eb_status eb_jsonl_sync(eb_jsonl *j) {
    if (j->fd < 0) return EB_FAIL(EB_ERR_ARG, "sync of %s: file not open", j->path);
    if (fsync(j->fd) != 0) return EB_FAIL(EB_ERR_IO, "cannot fsync %s: %s", j->path, strerror(errno));
    return EB_OK;
}

void eb_jsonl_close(eb_jsonl *j) {
    if (j->fd >= 0) close(j->fd);
    j->fd = -1;
}
