/* IDX files (MNIST, Fashion-MNIST): uint8 images N x H x W and labels N, gzipped or plain (zlib's gzread
 * passes plain files through). Every size is checked against the header; errors name the file. */
#include "ebgan/data.h"
#include "ebgan/regular_file.h"
#include "host/data/data_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#define IDX_MAGIC_IMAGES 0x00000803u /* 0x08 = unsigned byte, 3 dimensions */
#define IDX_MAGIC_LABELS 0x00000801u /* 0x08 = unsigned byte, 1 dimension */
#define IDX_CHUNK ((unsigned)1 << 26) /* gzread takes an unsigned and returns an int: read in chunks */

/* zlib's message without the "path: " prefix gzerror puts in front (the caller names the file). */
static const char *gz_message(gzFile g, const char *path, int *err) {
    const char *msg = gzerror(g, err);
    size_t n = strlen(path);
    return strncmp(msg, path, n) == 0 && msg[n] == ':' && msg[n + 1] == ' ' ? msg + n + 2 : msg;
}

/* Read up to n bytes; *got = bytes read, *cut = 1 when a gzip stream ended early (truncated file).
 * Returns zlib's error text when the stream is corrupt, else NULL. */
static const char *gz_read_all(gzFile g, const char *path, unsigned char *buf, size_t n, size_t *got, int *cut) {
    *got = 0;
    *cut = 0;
    while (*got < n) {
        size_t want = n - *got < IDX_CHUNK ? n - *got : IDX_CHUNK;
        int r = gzread(g, buf + *got, (unsigned)want);
        if (r < 0) {
            int err;
            return gz_message(g, path, &err);
        }
        if (r == 0) break;
        *got += (size_t)r;
    }
    int err = Z_OK;
    const char *msg = gz_message(g, path, &err);
    /* Z_BUF_ERROR at end of input: a gzip stream cut short; reported as truncation by the caller. */
    if (err == Z_BUF_ERROR) *cut = 1;
    else if (err != Z_OK) return msg;
    return NULL;
}

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* One IDX file: checks the magic, reads the ndim dimensions and exactly prod(dims) bytes (the pixel
 * buffer is returned in *data, malloc'd). ndim 3: images, 1: labels. */
static eb_status idx_read(const char *path, uint32_t magic, int ndim, uint32_t dims[3], unsigned char **data) {
    *data = NULL;
    uint64_t fbytes = 0;
    EB_TRY(eb_check_regular_file(path, "IDX", &fbytes)); /* before gzopen: a FIFO blocks the open itself */
    gzFile g = gzopen(path, "rb");
    if (!g) return EB_FAIL(EB_ERR_IO, "%s: cannot open for reading", path);
    gzbuffer(g, 1u << 18);
    eb_status st = EB_OK;
    unsigned char hdr[16];
    size_t hbytes = 4 + 4 * (size_t)ndim, got = 0;
    int cut = 0;
    const char *zerr = gz_read_all(g, path, hdr, hbytes, &got, &cut);
    const char *kind = magic == IDX_MAGIC_IMAGES ? "IDX uint8 images" : "IDX uint8 labels";
    if (zerr) {
        st = EB_FAIL(EB_ERR_FORMAT, "%s: corrupt gzip data (%s)", path, zerr);
        goto done;
    }
    if (got >= 4 && be32(hdr) != magic) {
        uint32_t m = be32(hdr);
        const char *hint = m == IDX_MAGIC_LABELS ? " (this is a labels file)"
                         : m == IDX_MAGIC_IMAGES ? " (this is an images file)" : "";
        st = EB_FAIL(EB_ERR_FORMAT, "%s: wrong magic number 0x%08x, expected 0x%08x (%s)%s", path, (unsigned)m,
                     (unsigned)magic, kind, hint);
        goto done;
    }
    if (got < hbytes) {
        st = EB_FAIL(EB_ERR_FORMAT, "%s: truncated%s: the file ends inside the %zu-byte IDX header (%zu bytes)", path,
                     cut ? " (gzip stream ends early)" : "",
                     hbytes, got);
        goto done;
    }
    uint64_t total = 1;
    for (int i = 0; i < ndim; i++) {
        dims[i] = be32(hdr + 4 + 4 * i);
        total *= dims[i];
    }
    if (dims[0] == 0 || (ndim == 3 && (dims[1] == 0 || dims[2] == 0))) {
        st = EB_FAIL(EB_ERR_FORMAT, "%s: header describes an empty set (%u items)", path, (unsigned)dims[0]);
        goto done;
    }
    if (dims[0] > (uint64_t)EB_DATA_MAX_N || (ndim == 3 && (uint64_t)dims[1] * dims[2] > (uint64_t)EB_DATA_MAX_ROW)) {
        st = EB_FAIL(EB_ERR_FORMAT, "%s: implausible header: %u items of %ux%u", path, (unsigned)dims[0],
                     ndim == 3 ? (unsigned)dims[1] : 1u, ndim == 3 ? (unsigned)dims[2] : 1u);
        goto done;
    }
    /* compare with what the file can hold before allocating: a plain file holds header + pixels, a gzip
     * stream at most ~1032 bytes per compressed byte (deflate's limit) */
    int gz = gzdirect(g) == 0;
    uint64_t room = gz ? fbytes * 1040u + 64u : (fbytes > hbytes ? fbytes - hbytes : 0);
    if (total > room) {
        if (!gz && ndim == 3)
            st = EB_FAIL(EB_ERR_FORMAT, "%s: truncated: header says %u images of %ux%u, file holds %llu bytes of pixels "
                         "(need %llu)", path, (unsigned)dims[0], (unsigned)dims[1], (unsigned)dims[2],
                         (unsigned long long)room, (unsigned long long)total);
        else if (!gz)
            st = EB_FAIL(EB_ERR_FORMAT, "%s: truncated: header says %u labels, file holds %llu", path, (unsigned)dims[0],
                         (unsigned long long)room);
        else
            st = EB_FAIL(EB_ERR_FORMAT, "%s: truncated: header says %llu bytes of data, more than the %llu-byte gzip "
                         "file can hold (at most %llu)", path, (unsigned long long)total, (unsigned long long)fbytes,
                         (unsigned long long)room);
        goto done;
    }
    *data = malloc((size_t)total);
    if (!*data) {
        st = EB_FAIL(EB_ERR_OOM, "%s: cannot allocate %llu bytes", path, (unsigned long long)total);
        goto done;
    }
    zerr = gz_read_all(g, path, *data, (size_t)total, &got, &cut);
    if (zerr) {
        st = EB_FAIL(EB_ERR_FORMAT, "%s: corrupt gzip data (%s)", path, zerr);
        goto done;
    }
    if (got < total) {
        if (ndim == 3)
            st = EB_FAIL(EB_ERR_FORMAT, "%s: truncated%s: header says %u images of %ux%u, file holds %zu bytes of pixels (need %llu)",
                         path, cut ? " (gzip stream ends early)" : "", (unsigned)dims[0], (unsigned)dims[1], (unsigned)dims[2], got, (unsigned long long)total);
        else
            st = EB_FAIL(EB_ERR_FORMAT, "%s: truncated%s: header says %u labels, file holds %zu", path,
                         cut ? " (gzip stream ends early)" : "", (unsigned)dims[0], got);
        goto done;
    }
    /* Reading one byte more must hit a clean end: this also makes zlib check the gzip CRC and length. */
    unsigned char extra;
    zerr = gz_read_all(g, path, &extra, 1, &got, &cut);
    if (zerr) {
        st = EB_FAIL(EB_ERR_FORMAT, "%s: corrupt gzip data (%s)", path, zerr);
        goto done;
    }
    if (got != 0) {
        st = EB_FAIL(EB_ERR_FORMAT, "%s: more bytes than the header's %u %s describe: wrong header?", path,
                     (unsigned)dims[0], ndim == 3 ? "images" : "labels");
        goto done;
    }
done:
    gzclose(g);
    if (st != EB_OK) {
        free(*data);
        *data = NULL;
    }
    return st;
}

eb_status eb_dataset_load_idx(eb_dataset *ds, const char *images_path, const char *labels_path) {
    memset(ds, 0, sizeof *ds);
    uint32_t idim[3] = {0}, ldim[3] = {0};
    unsigned char *pix = NULL, *lab = NULL;
    EB_TRY(idx_read(images_path, IDX_MAGIC_IMAGES, 3, idim, &pix));
    eb_status st = EB_OK;
    if (labels_path) {
        st = idx_read(labels_path, IDX_MAGIC_LABELS, 1, ldim, &lab);
        if (st != EB_OK) goto done;
        if (ldim[0] != idim[0]) {
            st = EB_FAIL(EB_ERR_FORMAT, "%s: %u labels, but images file %s holds %u images", labels_path,
                         (unsigned)ldim[0], images_path, (unsigned)idim[0]);
            goto done;
        }
    }
    /* own the pixel buffer directly (it is already N x 1 x H x W uint8) */
    ds->name = eb_data_strdup(images_path);
    if (!ds->name) {
        st = EB_FAIL(EB_ERR_OOM, "%s: out of memory", images_path);
        goto done;
    }
    ds->n = idim[0];
    ds->c = 1;
    ds->h = (int)idim[1];
    ds->w = (int)idim[2];
    ds->storage = EB_DATA_U8;
    ds->u8 = pix;
    pix = NULL;
    if (lab) {
        ds->labels = malloc((size_t)ds->n * sizeof(int32_t));
        if (!ds->labels) {
            st = EB_FAIL(EB_ERR_OOM, "%s: out of memory", labels_path);
            goto done;
        }
        int maxl = 0;
        for (int64_t i = 0; i < ds->n; i++) {
            ds->labels[i] = lab[i];
            if (lab[i] > maxl) maxl = lab[i];
        }
        ds->n_classes = maxl + 1;
    }
done:
    free(pix);
    free(lab);
    if (st != EB_OK) eb_dataset_free(ds);
    return st;
}
