/* TensorBoard event files: a few protobuf wire-format encoders (varint, fixed64/32, length-delimited) for
 * the tensorflow.Event / Summary / Summary.Image / SessionLog fields a run needs, and TFRecord framing. */
#define _POSIX_C_SOURCE 200809L
#include "ebgan/tfevents.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- CRC-32C ---- */

static uint32_t g_crc_table[256]; /* computed once; the same on every call */
static int g_crc_ready;

static void crc_table_init(void) {
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        g_crc_table[i] = c;
    }
    g_crc_ready = 1;
}

uint32_t eb_crc32c(const void *data, size_t n) {
    if (!g_crc_ready) crc_table_init();
    const uint8_t *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) c = g_crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

uint32_t eb_crc32c_masked(const void *data, size_t n) {
    uint32_t c = eb_crc32c(data, n);
    return ((c >> 15) | (c << 17)) + 0xA282EAD8u;
}

/* ---- protobuf wire format (tensorboard/compat/proto/event.proto, summary.proto field numbers) ---- */

enum { WIRE_VARINT = 0, WIRE_FIXED64 = 1, WIRE_LEN = 2, WIRE_FIXED32 = 5 };
/* tensorflow.Event */
enum { EVENT_WALL_TIME = 1, EVENT_STEP = 2, EVENT_FILE_VERSION = 3, EVENT_SUMMARY = 5, EVENT_SESSION_LOG = 7 };
/* tensorflow.Summary, Summary.Value, Summary.Image, SessionLog */
enum { SUMMARY_VALUE = 1 };
enum { VALUE_TAG = 1, VALUE_SIMPLE = 2, VALUE_IMAGE = 4 };
enum { IMAGE_HEIGHT = 1, IMAGE_WIDTH = 2, IMAGE_COLORSPACE = 3, IMAGE_ENCODED = 4 };
enum { SESSION_STATUS = 1, SESSION_START = 1 };

/* A message under construction: bytes appended at the end, nested messages encoded first and then
 * embedded by length (our messages are small and shallow, so copying is simpler than size pre-passes). */
typedef struct pb { uint8_t *p; size_t n, cap; int oom; } pb;

static void pb_bytes(pb *b, const void *d, size_t n) {
    if (b->oom) return;
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        uint8_t *q = realloc(b->p, cap);
        if (!q) {
            b->oom = 1;
            return;
        }
        b->p = q;
        b->cap = cap;
    }
    memcpy(b->p + b->n, d, n);
    b->n += n;
}

static void pb_varint(pb *b, uint64_t v) {
    uint8_t t[10];
    int k = 0;
    do {
        t[k] = (uint8_t)(v & 0x7F);
        v >>= 7;
        if (v) t[k] |= 0x80;
        k++;
    } while (v);
    pb_bytes(b, t, (size_t)k);
}

static void pb_key(pb *b, int field, int wire) { pb_varint(b, ((uint64_t)field << 3) | (uint64_t)wire); }

static void pb_fixed(pb *b, uint64_t v, int bytes) { /* little-endian */
    uint8_t t[8];
    for (int i = 0; i < bytes; i++) t[i] = (uint8_t)(v >> (8 * i));
    pb_bytes(b, t, (size_t)bytes);
}

static void pb_double(pb *b, int field, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    pb_key(b, field, WIRE_FIXED64);
    pb_fixed(b, u, 8);
}

static void pb_float(pb *b, int field, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    pb_key(b, field, WIRE_FIXED32);
    pb_fixed(b, u, 4);
}

static void pb_int(pb *b, int field, int64_t v) { /* int32 / int64 / enum: two's complement varint */
    pb_key(b, field, WIRE_VARINT);
    pb_varint(b, (uint64_t)v);
}

static void pb_len(pb *b, int field, const void *d, size_t n) {
    pb_key(b, field, WIRE_LEN);
    pb_varint(b, n);
    pb_bytes(b, d, n);
}

static void pb_free(pb *b) { free(b->p); }

/* ---- the file ---- */

static eb_status mkdir_p(const char *dir) {
    char buf[4096];
    if (snprintf(buf, sizeof buf, "%s", dir) >= (int)sizeof buf)
        return EB_FAIL(EB_ERR_ARG, "TensorBoard directory name too long: %s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) && errno != EEXIST)
            return EB_FAIL(EB_ERR_IO, "cannot create TensorBoard directory %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) && errno != EEXIST)
        return EB_FAIL(EB_ERR_IO, "cannot create TensorBoard directory %s: %s", buf, strerror(errno));
    return EB_OK;
}

/* One TFRecord: uint64 length, uint32 masked crc of the length bytes, the data, uint32 masked crc of it. */
static eb_status write_record(eb_tfevents *w, const uint8_t *data, size_t n) {
    uint8_t head[12], tail[4];
    for (int i = 0; i < 8; i++) head[i] = (uint8_t)((uint64_t)n >> (8 * i));
    uint32_t hc = eb_crc32c_masked(head, 8), dc = eb_crc32c_masked(data, n);
    for (int i = 0; i < 4; i++) head[8 + i] = (uint8_t)(hc >> (8 * i)), tail[i] = (uint8_t)(dc >> (8 * i));
    if (fwrite(head, 1, 12, w->fp) != 12 || fwrite(data, 1, n, w->fp) != n || fwrite(tail, 1, 4, w->fp) != 4 ||
        fflush(w->fp) != 0)
        return EB_FAIL(EB_ERR_IO, "TensorBoard event file %s: write failed: %s", w->path, strerror(errno));
    return EB_OK;
}

/* Event {wall_time, step, <field> = payload (a nested message or a string)} as one record. */
static eb_status write_event(eb_tfevents *w, int64_t step, double wall_time, int field, const pb *payload) {
    if (payload->oom) return EB_FAIL(EB_ERR_OOM, "TensorBoard event: out of memory");
    pb ev = {w->buf, 0, w->cap, 0};
    pb_double(&ev, EVENT_WALL_TIME, wall_time);
    pb_int(&ev, EVENT_STEP, step);
    pb_len(&ev, field, payload->p, payload->n);
    w->buf = ev.p;
    w->cap = ev.cap;
    if (ev.oom) return EB_FAIL(EB_ERR_OOM, "TensorBoard event: out of memory");
    return write_record(w, ev.p, ev.n);
}

double eb_tfevents_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

eb_status eb_tfevents_open(eb_tfevents *w, const char *dir, double wall_time) {
    memset(w, 0, sizeof *w);
    EB_TRY(mkdir_p(dir));
    char host[256] = "localhost";
    if (gethostname(host, sizeof host - 1) != 0) snprintf(host, sizeof host, "localhost");
    host[sizeof host - 1] = '\0';
    for (char *p = host; *p; p++)
        if (*p == '/') *p = '_';
    if (snprintf(w->path, sizeof w->path, "%s/events.out.tfevents.%lld.%s", dir, (long long)wall_time, host) >=
        (int)sizeof w->path)
        return EB_FAIL(EB_ERR_ARG, "TensorBoard directory name too long: %s", dir);
    /* appending: a session resumed within the same second continues the same file, which stays valid */
    w->fp = fopen(w->path, "ab");
    if (!w->fp) return EB_FAIL(EB_ERR_IO, "cannot create TensorBoard event file %s: %s", w->path, strerror(errno));
    /* the first event names the format: Event {wall_time, file_version} (no step) */
    pb ev = {0};
    pb_double(&ev, EVENT_WALL_TIME, wall_time);
    static const char version[] = "brain.Event:2";
    pb_len(&ev, EVENT_FILE_VERSION, version, sizeof version - 1);
    eb_status st = ev.oom ? EB_FAIL(EB_ERR_OOM, "TensorBoard event: out of memory") : write_record(w, ev.p, ev.n);
    pb_free(&ev);
    if (st != EB_OK) eb_tfevents_close(w);
    return st;
}

eb_status eb_tfevents_scalars(eb_tfevents *w, int64_t step, double wall_time, const eb_tb_scalar *v, int n) {
    pb sum = {0}, val = {0};
    for (int i = 0; i < n; i++) {
        val.n = 0;
        pb_len(&val, VALUE_TAG, v[i].tag, strlen(v[i].tag));
        pb_float(&val, VALUE_SIMPLE, (float)v[i].value);
        if (val.oom) break;
        pb_len(&sum, SUMMARY_VALUE, val.p, val.n);
    }
    sum.oom |= val.oom;
    eb_status st = write_event(w, step, wall_time, EVENT_SUMMARY, &sum);
    pb_free(&sum);
    pb_free(&val);
    return st;
}

eb_status eb_tfevents_image(eb_tfevents *w, int64_t step, double wall_time, const char *tag, const void *png,
                            size_t png_bytes, int width, int height, int channels) {
    if (width < 1 || height < 1 || (channels != 1 && channels != 3))
        return EB_FAIL(EB_ERR_ARG, "TensorBoard image %s: bad size %dx%d with %d channels", tag, width, height,
                       channels);
    pb img = {0}, val = {0}, sum = {0};
    pb_int(&img, IMAGE_HEIGHT, height);
    pb_int(&img, IMAGE_WIDTH, width);
    pb_int(&img, IMAGE_COLORSPACE, channels); /* 1 grayscale, 3 RGB */
    pb_len(&img, IMAGE_ENCODED, png, png_bytes);
    pb_len(&val, VALUE_TAG, tag, strlen(tag));
    if (!img.oom) pb_len(&val, VALUE_IMAGE, img.p, img.n);
    if (!val.oom) pb_len(&sum, SUMMARY_VALUE, val.p, val.n);
    sum.oom |= img.oom | val.oom;
    eb_status st = write_event(w, step, wall_time, EVENT_SUMMARY, &sum);
    pb_free(&img);
    pb_free(&val);
    pb_free(&sum);
    return st;
}

eb_status eb_tfevents_session_start(eb_tfevents *w, int64_t step, double wall_time) {
    pb sl = {0};
    pb_int(&sl, SESSION_STATUS, SESSION_START);
    eb_status st = write_event(w, step, wall_time, EVENT_SESSION_LOG, &sl);
    pb_free(&sl);
    return st;
}

void eb_tfevents_close(eb_tfevents *w) {
    if (w->fp) fclose(w->fp);
    free(w->buf);
    memset(w, 0, sizeof *w);
}
