/* Checkpoints of a run: every network's parameters and buffers under PyTorch-style names, the Adam moments,
 * the step, the RNG state and the configuration, in one safetensors file written atomically. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ctype.h>
#include <zlib.h>

#include "ebgan/cuda.h"
#include "ebgan/run_dir.h"
#include "ebgan/safetensors.h"
#include "ebgan/train.h"

#define CKPT_FORMAT "ebgan-gpu/1"

/* One candidate checkpoint of a run directory: an exact ckpt-<8 digits>.safetensors name whose header reads
 * as an ebgan-gpu checkpoint. `damaged` holds why one whose header cannot be read is unusable. */
typedef struct ckpt_entry {
    char name[64];
    int64_t step;         /* the metadata's (the name's when the header is unreadable) */
    char run_id[40];
    char damaged[512];    /* "" when the header is sound */
} ckpt_entry;

static int cmp_step(const void *a, const void *b) {
    const ckpt_entry *x = a, *y = b;
    return (x->step > y->step) - (x->step < y->step);
}

/* A metadata integer in [0, 2^62): steps and counters; NULL when valid, else why not. */
static const char *parse_count(const char *s, long long *v) {
    if (!s) return "missing";
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)s[0])) return "not a non-negative integer";
    *v = strtoll(s, &end, 10);
    if (errno || *end || *v >= (1LL << 62)) return "not a non-negative integer in range";
    return NULL;
}

/* The checkpoints of `dir` ordered by their metadata step, oldest first; files with our name pattern but
 * another format (someone else's safetensors) are not listed. -1 when the directory cannot be read. */
static int list_ckpts(const char *dir, ckpt_entry **out) {
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0, cap = 0;
    ckpt_entry *v = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        int64_t name_step;
        if (!eb_run_ckpt_name_step(e->d_name, &name_step) || strlen(e->d_name) >= sizeof v->name) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            ckpt_entry *nv = realloc(v, (size_t)cap * sizeof *v);
            if (!nv) break;
            v = nv;
        }
        ckpt_entry *c = &v[n];
        memset(c, 0, sizeof *c);
        snprintf(c->name, sizeof c->name, "%s", e->d_name);
        c->step = name_step;
        char path[EB_CFG_PATH_MAX + 80];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        eb_safetensors st;
        if (eb_safetensors_open(&st, path) != EB_OK) {
            snprintf(c->damaged, sizeof c->damaged, "%s", eb_error_message());
            n++;
            continue;
        }
        const char *fmt = eb_safetensors_meta(&st, "format"), *id = eb_safetensors_meta(&st, "run_id");
        long long ms = 0;
        const char *why = parse_count(eb_safetensors_meta(&st, "step"), &ms);
        if (!fmt || strcmp(fmt, CKPT_FORMAT)) {
            eb_safetensors_close(&st);
            continue; /* not an ebgan-gpu checkpoint: the user's file */
        }
        if (why) snprintf(c->damaged, sizeof c->damaged, "metadata 'step' = '%.40s' is %s",
                          eb_safetensors_meta(&st, "step") ? eb_safetensors_meta(&st, "step") : "", why);
        else if (ms != name_step)
            snprintf(c->damaged, sizeof c->damaged, "metadata 'step' %lld does not match its name", ms);
        else c->step = ms;
        snprintf(c->run_id, sizeof c->run_id, "%s", id ? id : "");
        eb_safetensors_close(&st);
        n++;
    }
    closedir(d);
    if (n) qsort(v, (size_t)n, sizeof *v, cmp_step);
    *out = v;
    return n;
}

/* Verifies the tensor data against the metadata's tensor_crc32 (CRC-32 of the data buffer, zlib's);
 * checkpoints of earlier versions without one pass unchecked. NULL when intact, else why not (in buf). */
static const char *verify_data(const eb_safetensors *st, char *buf, size_t cap) {
    const char *want = eb_safetensors_meta(st, "tensor_crc32");
    if (!want) return NULL;
    unsigned char *chunk = malloc(1u << 20);
    if (!chunk) {
        snprintf(buf, cap, "out of memory verifying it");
        return buf;
    }
    uLong crc = crc32(0L, Z_NULL, 0);
    uint64_t at = 0;
    const char *why = NULL;
    while (at < st->data_bytes) {
        size_t k = st->data_bytes - at < (1u << 20) ? (size_t)(st->data_bytes - at) : (1u << 20);
        ssize_t r = pread(st->fd, chunk, k, (off_t)(st->data_start + at));
        if (r <= 0) {
            snprintf(buf, cap, "read error at data byte %llu: %s", (unsigned long long)at, r < 0 ? strerror(errno) : "end of file");
            why = buf;
            break;
        }
        crc = crc32(crc, chunk, (uInt)r);
        at += (uint64_t)r;
    }
    free(chunk);
    char got[16];
    snprintf(got, sizeof got, "%08lx", (unsigned long)crc);
    if (!why && strcmp(got, want)) {
        snprintf(buf, cap, "tensor data checksum mismatch (crc32 %s, metadata says %.20s): the file is damaged", got, want);
        why = buf;
    }
    return why;
}

/* Opens `path`, checks the format and the data checksum; NULL when intact, else why not (in buf). */
static const char *check_file(const char *path, char *buf, size_t cap) {
    eb_safetensors st;
    if (eb_safetensors_open(&st, path) != EB_OK) {
        snprintf(buf, cap, "%s", eb_error_message());
        return buf;
    }
    const char *fmt = eb_safetensors_meta(&st, "format");
    const char *why = NULL;
    if (!fmt || strcmp(fmt, CKPT_FORMAT)) {
        snprintf(buf, cap, "not an ebgan-gpu checkpoint (format '%s')", fmt ? fmt : "missing");
        why = buf;
    } else {
        why = verify_data(&st, buf, cap);
    }
    eb_safetensors_close(&st);
    return why;
}

static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (s) {
        size_t got = fread(s, 1, (size_t)n, f);
        s[got] = '\0';
    }
    fclose(f);
    return s;
}

/* The entries of one net's tensors staged at p (params) and b (buffers); as_ema: under G_ema.<name>. */
static void add_entries(const eb_net *net, float *p, float *b, eb_param_info *info, int *ni, int cap,
                        eb_st_entry *ent, int *ne, int as_ema) {
    int np = eb_net_param_list(net, info + *ni, cap - *ni);
    for (int j = 0; j < np; j++) {
        eb_param_info *pi = &info[*ni + j];
        if (as_ema) {
            char nm[sizeof pi->name];
            eb_g_ema_name(pi->name, nm, sizeof nm);
            memcpy(pi->name, nm, sizeof nm);
        }
        ent[*ne] = (eb_st_entry){pi->name, EB_ST_F32, pi->ndim, {0}, (pi->is_buffer ? b : p) + pi->offset};
        for (int d = 0; d < pi->ndim; d++) ent[*ne].shape[d] = pi->shape[d];
        (*ne)++;
    }
    *ni += np;
}

eb_status eb_trainer_save(eb_trainer *t) {
    const eb_backend *be = &t->be;
    EB_TRY(eb_divergence_check_save(t)); /* never a checkpoint of a diverged state (DESIGN.md §4.8) */
    eb_net *nets[EB_GAN_NETS_MAX];
    eb_optim *opts[EB_GAN_NETS_MAX];
    int k = eb_gan_nets(&t->gan, nets, opts);
    /* host staging: every tensor of every net plus the Adam moments */
    size_t total = 0;
    int n_entries = 0;
    for (int i = 0; i < k; i++) {
        total += nets[i]->n_params + nets[i]->n_buffers + 2 * opts[i]->n;
        n_entries += eb_net_param_list(nets[i], NULL, 0) + 2;
    }
    if (t->g_ema.w) { /* the average of G (g_ema.h) */
        total += t->gan.G.n_params + t->gan.G.n_buffers;
        n_entries += eb_net_param_list(&t->gan.G, NULL, 0);
    }
    float *host = malloc(total * sizeof(float) + 1);
    eb_st_entry *ent = calloc((size_t)n_entries, sizeof *ent);
    eb_param_info *info = calloc((size_t)n_entries, sizeof *info);
    char (*names)[80] = calloc((size_t)2 * k, sizeof *names);
    eb_status st = EB_OK;
    if (!host || !ent || !info || !names) {
        st = EB_FAIL(EB_ERR_OOM, "checkpoint: cannot allocate %zu bytes of host staging", total * sizeof(float));
        goto out;
    }
    size_t at = 0;
    int ne = 0, ni = 0;
    for (int i = 0; i < k && st == EB_OK; i++) {
        eb_net *net = nets[i];
        float *p = host + at, *b = p + net->n_params;
        if ((st = be->ops->mem_download(be->ctx, p, net->params, net->n_params * sizeof(float))) != EB_OK) break;
        if (net->n_buffers &&
            (st = be->ops->mem_download(be->ctx, b, net->buffers, net->n_buffers * sizeof(float))) != EB_OK)
            break;
        add_entries(net, p, b, info, &ni, n_entries, ent, &ne, 0);
        at += net->n_params + net->n_buffers;
        eb_optim *o = opts[i];
        if (o->n && o->m) {
            float *m = host + at, *v = m + o->n;
            if ((st = be->ops->mem_download(be->ctx, m, o->m, o->n * sizeof(float))) != EB_OK) break;
            if ((st = be->ops->mem_download(be->ctx, v, o->v, o->n * sizeof(float))) != EB_OK) break;
            /* stored packed in parameter order, without the alignment padding (net.h) */
            eb_net_params_pack(net, m);
            eb_net_params_pack(net, v);
            snprintf(names[2 * i], sizeof names[0], "optim.%s.exp_avg", net->name);
            snprintf(names[2 * i + 1], sizeof names[0], "optim.%s.exp_avg_sq", net->name);
            ent[ne++] = (eb_st_entry){names[2 * i], EB_ST_F32, 1, {(int64_t)net->n_trainable}, m};
            ent[ne++] = (eb_st_entry){names[2 * i + 1], EB_ST_F32, 1, {(int64_t)net->n_trainable}, v};
            at += 2 * o->n;
        }
    }
    if (st != EB_OK) goto out;
    if (t->g_ema.w) {
        float *p = host + at;
        if ((st = eb_g_ema_download(&t->g_ema, be, &t->gan.G, p)) != EB_OK) goto out;
        add_entries(&t->gan.G, p, p + t->gan.G.n_params, info, &ni, n_entries, ent, &ne, 1);
    }
    char step[32], seed[32], ctr[32], wall[32], adam[5][32], keys[5][48], epoch[32];
    snprintf(step, sizeof step, "%lld", (long long)t->step);
    snprintf(epoch, sizeof epoch, "%lld", (long long)t->div.stream_epoch);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)t->rng.seed);
    snprintf(ctr, sizeof ctr, "%llu", (unsigned long long)t->rng.counter);
    snprintf(wall, sizeof wall, "%.3f", eb_trainer_wall_s(t));
    char cfg_path[EB_CFG_PATH_MAX + 32];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.txt", t->run_dir);
    char *cfg_text = t->config_text ? strdup(t->config_text) : read_text(cfg_path);
    eb_st_meta meta[18];
    int nm = 0;
    meta[nm++] = (eb_st_meta){"format", CKPT_FORMAT};
    meta[nm++] = (eb_st_meta){"step", step};
    meta[nm++] = (eb_st_meta){"rng_seed", seed};
    meta[nm++] = (eb_st_meta){"rng_counter", ctr};
    meta[nm++] = (eb_st_meta){"stream_epoch", epoch}; /* rollbacks so far: the counter's shift (DESIGN.md §4.8) */
    meta[nm++] = (eb_st_meta){"wall_s", wall};
    meta[nm++] = (eb_st_meta){"config", cfg_text ? cfg_text : ""};
    /* the cuDNN algorithms this run convolves with, so that a resume uses the same ones (conv_algo.h) */
    char *algos = eb_cuda_conv_algos_export(be);
    if (algos) meta[nm++] = (eb_st_meta){"cudnn_algos", algos};
    for (int i = 0; i < k; i++) {
        snprintf(keys[i], sizeof keys[i], "optim.%s.step", nets[i]->name);
        snprintf(adam[i], sizeof adam[i], "%lld", (long long)opts[i]->step);
        meta[nm++] = (eb_st_meta){keys[i], adam[i]};
    }
    /* the data buffer is the entries in this order, back to back (safetensors.h): its CRC-32 */
    uLong crc = crc32(0L, Z_NULL, 0);
    for (int i = 0; i < ne; i++) {
        size_t bytes = sizeof(float);
        for (int d = 0; d < ent[i].ndim; d++) bytes *= (size_t)ent[i].shape[d];
        for (size_t off = 0; off < bytes;) { /* crc32 takes a uInt length */
            size_t k = bytes - off < (1u << 30) ? bytes - off : (1u << 30);
            crc = crc32(crc, (const Bytef *)ent[i].data + off, (uInt)k);
            off += k;
        }
    }
    char crc_hex[16];
    snprintf(crc_hex, sizeof crc_hex, "%08lx", (unsigned long)crc);
    meta[nm++] = (eb_st_meta){"tensor_crc32", crc_hex};
    meta[nm++] = (eb_st_meta){"run_id", t->run_id};
    char path[EB_CFG_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/ckpt-%08lld.safetensors", t->run_dir, (long long)t->step);
    st = eb_safetensors_write(path, ent, ne, meta, nm);
    free(cfg_text);
    free(algos);
    if (st != EB_OK) goto out;
    t->saved_step = t->step;
    snprintf(t->last_ckpt, sizeof t->last_ckpt, "%s", path);
    /* keep the newest `keep` of this run's checkpoints (by run id; anything else in the directory is the
     * user's); older ones go only after the new one is safely on disk */
    ckpt_entry *files;
    int nf = list_ckpts(t->run_dir, &files);
    int ours = 0;
    for (int i = 0; i < nf; i++) ours += !files[i].damaged[0] && !strcmp(files[i].run_id, t->run_id);
    for (int i = 0; i < nf && ours > t->cfg.keep && t->cfg.keep > 0; i++) {
        if (files[i].damaged[0] || strcmp(files[i].run_id, t->run_id) || files[i].step >= t->step) continue;
        char old[EB_CFG_PATH_MAX + 80];
        snprintf(old, sizeof old, "%s/%s", t->run_dir, files[i].name);
        if (unlink(old) == 0) ours--;
    }
    free(files);
out:
    free(host);
    free(ent);
    free(info);
    free(names);
    return st;
}

eb_status eb_trainer_find_checkpoint(const char *path, char *out, size_t cap) {
    return eb_ckpt_find(path, 0, out, cap, NULL, 0);
}

eb_status eb_ckpt_find(const char *path, int fallback_intact, char *out, size_t cap, char *note, size_t note_cap) {
    if (note && note_cap) note[0] = '\0';
    size_t n = strlen(path);
    if (n > 12 && !strcmp(path + n - 12, ".safetensors")) {
        snprintf(out, cap, "%s", path);
        return EB_OK;
    }
    ckpt_entry *files;
    int nf = list_ckpts(path, &files);
    if (nf < 0) return EB_FAIL(EB_ERR_IO, "run directory %s: %s", path, strerror(errno));
    /* the newest decides the run: older files of another run id are not this run's */
    char why_newest[600] = "", first[64] = "", buf[600];
    eb_status rc = EB_ERR_IO;
    const char *run_id = NULL;
    for (int i = nf - 1; i >= 0; i--) {
        ckpt_entry *c = &files[i];
        if (run_id && !c->damaged[0] && strcmp(c->run_id, run_id)) continue;
        char p[EB_CFG_PATH_MAX + 80];
        snprintf(p, sizeof p, "%s/%s", path, c->name);
        const char *why = c->damaged[0] ? c->damaged : check_file(p, buf, sizeof buf);
        if (!why) {
            if (!first[0] || fallback_intact) {
                snprintf(out, cap, "%s", p);
                rc = EB_OK;
                if (first[0] && note)
                    snprintf(note, note_cap, "the newest checkpoint %s is damaged (%s); resuming from the newest "
                             "intact one, %s (--resume-intact 1)", first, why_newest, c->name);
            } else {
                rc = EB_FAIL(EB_ERR_FORMAT, "the newest checkpoint %s/%s is damaged: %s; the newest intact one is %s "
                             "(step %lld): pass --resume-intact 1 to continue from it", path, first, why_newest,
                             c->name, (long long)c->step);
            }
            break;
        }
        if (!first[0]) {
            snprintf(first, sizeof first, "%s", c->name);
            snprintf(why_newest, sizeof why_newest, "%s", why);
            if (!c->damaged[0]) run_id = c->run_id;
        }
    }
    if (rc == EB_ERR_IO) {
        if (first[0]) rc = EB_FAIL(EB_ERR_FORMAT, "the newest checkpoint %s/%s is damaged: %s; no intact one is left",
                                   path, first, why_newest);
        else rc = EB_FAIL(EB_ERR_IO, "run directory %s holds no checkpoint (ckpt-<8 digits>.safetensors)", path);
    }
    free(files);
    return rc;
}

static eb_status meta_u64(const eb_safetensors *st, const char *key, unsigned long long *v) {
    const char *s = eb_safetensors_meta(st, key);
    char *end;
    if (!s) return EB_FAIL(EB_ERR_FORMAT, "checkpoint %s: metadata '%s' missing", st->path, key);
    errno = 0;
    *v = strtoull(s, &end, 10);
    if (errno || end == s || *end)
        return EB_FAIL(EB_ERR_FORMAT, "checkpoint %s: metadata '%s' = '%s' is not an integer", st->path, key, s);
    return EB_OK;
}

eb_status eb_trainer_load(eb_trainer *t, const char *where) {
    char path[EB_CFG_PATH_MAX + 64], buf[600];
    EB_TRY(eb_ckpt_find(where, t->cfg.resume_intact, path, sizeof path, t->resume_note, sizeof t->resume_note));
    size_t wl = strlen(where); /* a directory's newest was verified by eb_ckpt_find; a named file is checked here */
    const char *bad = wl > 12 && !strcmp(where + wl - 12, ".safetensors") ? check_file(path, buf, sizeof buf) : NULL;
    if (bad) return EB_FAIL(EB_ERR_FORMAT, "checkpoint %s: %s", path, bad);
    eb_safetensors st;
    EB_TRY(eb_safetensors_open(&st, path));
    const eb_backend *be = &t->be;
    eb_status rc = EB_OK;
    /* the metadata must describe this run's stream: step in range and within --iters, the seed, and the
     * counter the stream reaches after `step` iterations of this configuration */
    long long step = 0, seed = 0, ctr = 0;
    const char *why = NULL, *key = "step";
    if (!(why = parse_count(eb_safetensors_meta(&st, "step"), &step))) {
        key = "rng_counter";
        if (!(why = parse_count(eb_safetensors_meta(&st, "rng_counter"), &ctr))) {
            unsigned long long sd;
            if (meta_u64(&st, "rng_seed", &sd) != EB_OK) {
                rc = EB_ERR_FORMAT;
                goto out;
            }
            seed = (long long)sd;
        }
    }
    if (why) {
        const char *v = eb_safetensors_meta(&st, key);
        rc = EB_FAIL(EB_ERR_FORMAT, "checkpoint %s: metadata '%s' = '%.40s' is %s", path, key, v ? v : "", why);
        goto out;
    }
    /* a rolled-back run's stream is shifted by whole epochs (DESIGN.md §4.8); older checkpoints have no epoch */
    long long epoch = 0;
    const char *ep = eb_safetensors_meta(&st, "stream_epoch");
    if (ep && (why = parse_count(ep, &epoch)) != NULL) {
        rc = EB_FAIL(EB_ERR_FORMAT, "checkpoint %s: metadata 'stream_epoch' = '%.40s' is %s", path, ep, why);
        goto out;
    }
    const uint64_t shift = (uint64_t)epoch * EB_STREAM_EPOCH_COUNTERS;
    if ((uint64_t)seed != t->rng.seed ||
        (uint64_t)ctr != t->rng.counter + (uint64_t)step * t->plan.stride + shift) {
        rc = EB_FAIL(EB_ERR_FORMAT, "checkpoint %s: its random stream (seed %llu, counter %llu at step %lld) is not "
                     "this configuration's (seed %llu, counter %llu): another run's checkpoint or edited metadata",
                     path, (unsigned long long)seed, (unsigned long long)ctr, step,
                     (unsigned long long)t->rng.seed,
                     (unsigned long long)(t->rng.counter + (uint64_t)step * t->plan.stride + shift));
        goto out;
    }
    const char *rid = eb_safetensors_meta(&st, "run_id");
    snprintf(t->run_id, sizeof t->run_id, "%s", rid ? rid : "");
    eb_net *nets[EB_GAN_NETS_MAX];
    eb_optim *opts[EB_GAN_NETS_MAX];
    int k = eb_gan_nets(&t->gan, nets, opts);
    for (int i = 0; i < k && rc == EB_OK; i++) {
        eb_net *net = nets[i];
        size_t n_all = net->n_params + net->n_buffers + 2 * opts[i]->n;
        float *host = calloc(n_all + 1, sizeof(float)); /* zero alignment padding (net.h) */
        int np = eb_net_param_list(net, NULL, 0);
        eb_param_info *info = calloc((size_t)np + 1, sizeof *info);
        if (!host || !info) {
            free(host);
            free(info);
            rc = EB_FAIL(EB_ERR_OOM, "checkpoint load: host staging");
            break;
        }
        eb_net_param_list(net, info, np);
        float *p = host, *b = host + net->n_params;
        for (int j = 0; j < np && rc == EB_OK; j++) {
            eb_param_info *pi = &info[j];
            float *dst = (pi->is_buffer ? b : p) + pi->offset;
            rc = eb_safetensors_get(&st, pi->name, EB_ST_F32, pi->ndim, pi->shape, dst, pi->len * sizeof(float));
        }
        if (rc == EB_OK) rc = be->ops->mem_upload(be->ctx, net->params, p, net->n_params * sizeof(float));
        if (rc == EB_OK && net->n_buffers)
            rc = be->ops->mem_upload(be->ctx, net->buffers, b, net->n_buffers * sizeof(float));
        eb_optim *o = opts[i];
        if (rc == EB_OK && o->n && o->m) {
            char nm[80], key[48];
            int64_t shp[1] = {(int64_t)net->n_trainable}; /* packed (net.h) */
            float *m = b + net->n_buffers, *v = m + o->n;
            snprintf(nm, sizeof nm, "optim.%s.exp_avg", net->name);
            rc = eb_safetensors_get(&st, nm, EB_ST_F32, 1, shp, m, net->n_trainable * sizeof(float));
            snprintf(nm, sizeof nm, "optim.%s.exp_avg_sq", net->name);
            if (rc == EB_OK) rc = eb_safetensors_get(&st, nm, EB_ST_F32, 1, shp, v, net->n_trainable * sizeof(float));
            if (rc == EB_OK) {
                eb_net_params_unpack(net, m);
                eb_net_params_unpack(net, v);
            }
            if (rc == EB_OK) rc = be->ops->mem_upload(be->ctx, o->m, m, o->n * sizeof(float));
            if (rc == EB_OK) rc = be->ops->mem_upload(be->ctx, o->v, v, o->n * sizeof(float));
            unsigned long long s = 0;
            snprintf(key, sizeof key, "optim.%s.step", net->name);
            if (rc == EB_OK) rc = meta_u64(&st, key, &s);
            o->step = (int64_t)s;
        }
        free(host);
        free(info);
    }
    if (rc == EB_OK && t->g_ema.w) { /* --g-ema is a method option: its run's checkpoints all hold the average */
        if (!eb_g_ema_in_checkpoint(&st, &t->gan.G))
            rc = EB_FAIL(EB_ERR_FORMAT, "checkpoint %s holds no average of G (G_ema.*) but the run has --g-ema %g",
                         path, t->g_ema.decay);
        else rc = eb_g_ema_load(&t->g_ema, be, &t->gan.G, &st);
    }
    if (rc == EB_OK && (t->gan.opt_G.step != (int64_t)step || t->gan.opt_U.step != (int64_t)step * t->cfg.n_critic))
        rc = EB_FAIL(EB_ERR_FORMAT, "checkpoint %s: optimiser steps (G %lld, U %lld) do not match step %lld with "
                     "--n-critic %d", path, (long long)t->gan.opt_G.step, (long long)t->gan.opt_U.step, step,
                     t->cfg.n_critic);
    if (rc == EB_OK) {
        t->step = (int64_t)step;
        t->saved_step = t->step;
        snprintf(t->last_ckpt, sizeof t->last_ckpt, "%s", path);
        t->rng.counter = (uint64_t)ctr;
        t->div.stream_epoch = epoch;
        const char *w = eb_safetensors_meta(&st, "wall_s");
        t->wall_offset = w ? atof(w) : 0;
        if (!isfinite(t->wall_offset) || t->wall_offset < 0) t->wall_offset = 0; /* informative only */
        /* reuse the recorded cuDNN algorithms (bit-exact resume of conv models, conv_algo.h); a CPU run or
         * a checkpoint of a CPU run has none */
        const char *algos = eb_safetensors_meta(&st, "cudnn_algos");
        if (algos && eb_backend_is_cuda(be)) rc = eb_cuda_conv_algos_import((eb_backend *)be, algos);
    }
out:
    eb_safetensors_close(&st);
    return rc;
}
