/* Checkpoints of a run: every network's parameters and buffers under PyTorch-style names, the Adam moments,
 * the step, the RNG state and the configuration, in one safetensors file written atomically. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ebgan/cuda.h"
#include "ebgan/safetensors.h"
#include "ebgan/train.h"

#define CKPT_FORMAT "ebgan-gpu/1"

static int is_ckpt_name(const char *s) {
    size_t n = strlen(s);
    return n > 17 && !strncmp(s, "ckpt-", 5) && !strcmp(s + n - 12, ".safetensors");
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The checkpoint files of `dir`, sorted oldest first (names carry the zero-padded step). */
static int list_ckpts(const char *dir, char ***out) {
    *out = NULL;
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0, cap = 0;
    char **v = NULL;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!is_ckpt_name(e->d_name)) continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            char **nv = realloc(v, (size_t)cap * sizeof *v);
            if (!nv) break;
            v = nv;
        }
        v[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(v, (size_t)n, sizeof *v, cmp_str);
    *out = v;
    return n;
}

static void free_list(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
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

eb_status eb_trainer_save(eb_trainer *t) {
    const eb_backend *be = &t->be;
    eb_net *nets[5];
    eb_optim *opts[5];
    int k = eb_gan_nets(&t->gan, nets, opts);
    /* host staging: every tensor of every net plus the Adam moments */
    size_t total = 0;
    int n_entries = 0;
    for (int i = 0; i < k; i++) {
        total += nets[i]->n_params + nets[i]->n_buffers + 2 * opts[i]->n;
        n_entries += eb_net_param_list(nets[i], NULL, 0) + 2;
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
        /* a diverged run must never replace a good checkpoint with NaN weights */
        for (size_t j = 0; j < net->n_params + net->n_buffers; j++)
            if (!isfinite(p[j])) {
                st = EB_FAIL(EB_ERR_NUMERIC, "weights of %s are not finite at step %lld: training diverged; not "
                             "checkpointed (earlier checkpoints are kept); try a smaller --lr or --lambda",
                             net->name, (long long)t->step);
                break;
            }
        if (st != EB_OK) break;
        int np = eb_net_param_list(net, info + ni, n_entries - ni);
        for (int j = 0; j < np; j++) {
            eb_param_info *pi = &info[ni + j];
            ent[ne] = (eb_st_entry){pi->name, EB_ST_F32, pi->ndim, {0}, (pi->is_buffer ? b : p) + pi->offset};
            for (int d = 0; d < pi->ndim; d++) ent[ne].shape[d] = pi->shape[d];
            ne++;
        }
        ni += np;
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
    char step[32], seed[32], ctr[32], wall[32], adam[5][32], keys[5][48];
    snprintf(step, sizeof step, "%lld", (long long)t->step);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)t->rng.seed);
    snprintf(ctr, sizeof ctr, "%llu", (unsigned long long)t->rng.counter);
    snprintf(wall, sizeof wall, "%.3f", eb_trainer_wall_s(t));
    char cfg_path[EB_CFG_PATH_MAX + 32];
    snprintf(cfg_path, sizeof cfg_path, "%s/config.txt", t->run_dir);
    char *cfg_text = read_text(cfg_path);
    eb_st_meta meta[16];
    int nm = 0;
    meta[nm++] = (eb_st_meta){"format", CKPT_FORMAT};
    meta[nm++] = (eb_st_meta){"step", step};
    meta[nm++] = (eb_st_meta){"rng_seed", seed};
    meta[nm++] = (eb_st_meta){"rng_counter", ctr};
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
    char path[EB_CFG_PATH_MAX + 64];
    snprintf(path, sizeof path, "%s/ckpt-%08lld.safetensors", t->run_dir, (long long)t->step);
    st = eb_safetensors_write(path, ent, ne, meta, nm);
    free(cfg_text);
    free(algos);
    if (st != EB_OK) goto out;
    /* keep the newest `keep`; older ones go only after the new one is safely on disk */
    char **files;
    int nf = list_ckpts(t->run_dir, &files);
    for (int i = 0; i < nf - t->cfg.keep && t->cfg.keep > 0; i++) {
        char old[EB_CFG_PATH_MAX + 64];
        snprintf(old, sizeof old, "%s/%s", t->run_dir, files[i]);
        unlink(old);
    }
    if (nf > 0) free_list(files, nf);
out:
    free(host);
    free(ent);
    free(info);
    free(names);
    return st;
}

/* The newest checkpoint of a run directory, or `path` itself when it names a file. */
eb_status eb_trainer_find_checkpoint(const char *path, char *out, size_t cap) {
    size_t n = strlen(path);
    if (n > 12 && !strcmp(path + n - 12, ".safetensors")) {
        snprintf(out, cap, "%s", path);
        return EB_OK;
    }
    char **files;
    int nf = list_ckpts(path, &files);
    if (nf < 0) return EB_FAIL(EB_ERR_IO, "run directory %s: %s", path, strerror(errno));
    if (nf == 0) return EB_FAIL(EB_ERR_IO, "run directory %s holds no checkpoint (ckpt-*.safetensors)", path);
    snprintf(out, cap, "%s/%s", path, files[nf - 1]);
    free_list(files, nf);
    return EB_OK;
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
    char path[EB_CFG_PATH_MAX + 64];
    EB_TRY(eb_trainer_find_checkpoint(where, path, sizeof path));
    eb_safetensors st;
    EB_TRY(eb_safetensors_open(&st, path));
    const eb_backend *be = &t->be;
    eb_status rc = EB_OK;
    const char *fmt = eb_safetensors_meta(&st, "format");
    if (!fmt || strcmp(fmt, CKPT_FORMAT)) {
        rc = EB_FAIL(EB_ERR_FORMAT, "checkpoint %s: not an ebgan-gpu checkpoint (format '%s')", path,
                     fmt ? fmt : "missing");
        goto out;
    }
    eb_net *nets[5];
    eb_optim *opts[5];
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
    unsigned long long step = 0, seed = 0, ctr = 0;
    if (rc == EB_OK) rc = meta_u64(&st, "step", &step);
    if (rc == EB_OK) rc = meta_u64(&st, "rng_seed", &seed);
    if (rc == EB_OK) rc = meta_u64(&st, "rng_counter", &ctr);
    if (rc == EB_OK) {
        t->step = (int64_t)step;
        t->rng.seed = seed;
        t->rng.counter = ctr;
        const char *w = eb_safetensors_meta(&st, "wall_s");
        t->wall_offset = w ? atof(w) : 0;
        /* reuse the recorded cuDNN algorithms (bit-exact resume of conv models, conv_algo.h); a CPU run or
         * a checkpoint of a CPU run has none */
        const char *algos = eb_safetensors_meta(&st, "cudnn_algos");
        if (algos && eb_backend_is_cuda(be)) rc = eb_cuda_conv_algos_import((eb_backend *)be, algos);
    }
out:
    eb_safetensors_close(&st);
    return rc;
}
