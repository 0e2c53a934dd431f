/* The host side of MALA (DESIGN.md §3): energies and latent gradients through U∘G in inference mode, then
 * the fused propose / accept ops. The current point's energy and gradient are cached between steps. */
#include "ebgan/mala.h"

#include <string.h>

#include "ebgan/backend.h"
#include "ebgan/cuda.h"
#include "net_internal.h"

enum { N_SLOTS = 9 };

/* Elements of the per-chain buffers (e, g, zp, ep, gp, accepted, seed, dx, sq), each rounded like the
 * workspaces, and of both workspaces; returns the total. */
static size_t layout(const eb_net *G, const eb_net *U, size_t C, size_t sizes[N_SLOTS], size_t *ws_g, size_t *ws_u) {
    size_t D = (size_t)(G ? eb_shape_numel(G->in_shape) : eb_shape_numel(U->in_shape));
    size_t X = (size_t)eb_shape_numel(U->in_shape);
    size_t s[N_SLOTS] = {C, C * D, C * D, C, C * D, C, C, C * X, C};
    size_t total = 0;
    for (int i = 0; i < N_SLOTS; i++) total += sizes[i] = eb_ws_round(s[i]);
    *ws_g = G ? eb_net_ws_elems(G, (int)C, 0) : 0;
    *ws_u = eb_net_ws_elems(U, (int)C, 0);
    return total + *ws_g + *ws_u;
}

size_t eb_mala_bytes(const eb_net *G, const eb_net *U, int max_chains) {
    size_t sizes[N_SLOTS], wg, wu;
    return max_chains < 1 ? 0 : layout(G, U, (size_t)max_chains, sizes, &wg, &wu) * sizeof(eb_real);
}

int eb_mala_auto_chunk(const eb_backend *be, const eb_net *G, const eb_net *U, size_t extra_bytes_per_chain,
                       int64_t n_chains) {
    /* the per-chain cost from a large chunk (the rounding of each buffer amortised), plus one element per
     * buffer for safety */
    const size_t per = eb_mala_bytes(G, U, 1024) / 1024 + N_SLOTS * sizeof(eb_real) + extra_bytes_per_chain;
    /* CPU: 4096 chains (GEMMs are efficient well before that), at most 1 GiB of buffers (a cifar chain
     * takes ~5 MB: ~200 chains) */
    int64_t C = ((int64_t)1 << 30) / (int64_t)per;
    if (C > 4096) C = 4096;
    if (eb_backend_is_cuda(be)) {
        size_t free_b = 0, total_b = 0;
        if (eb_cuda_mem_info(be, &free_b, &total_b) == EB_OK) C = (int64_t)(0.6 * (double)free_b / (double)per);
        else C = 65536;
        int64_t w = eb_net_max_width(U);
        if (G && eb_net_max_width(G) > w) w = eb_net_max_width(G);
        const int64_t cap = (((int64_t)1 << 31) - 1) / (w > 0 ? w : 1);
        if (C > cap) C = cap;
    }
    if (C > n_chains) C = n_chains;
    if (C > ((int64_t)1 << 30)) C = (int64_t)1 << 30;
    return C < 1 ? 1 : (int)C;
}

eb_status eb_mala_init(eb_mala *s, const eb_backend *be, const eb_net *G, const eb_net *U, int max_chains) {
    memset(s, 0, sizeof *s);
    if (max_chains < 1) return EB_FAIL(EB_ERR_ARG, "MALA: max_chains %d must be >= 1", max_chains);
    int64_t dim = G ? eb_shape_numel(G->in_shape) : eb_shape_numel(U->in_shape);
    int64_t xdim = eb_shape_numel(U->in_shape);
    if (G && eb_shape_numel(G->out_shape) != xdim)
        return EB_FAIL(EB_ERR_ARG, "MALA: G gives %lld values per sample, U takes %lld",
                       (long long)eb_shape_numel(G->out_shape), (long long)xdim);
    if (eb_shape_numel(U->out_shape) != 1) return EB_FAIL(EB_ERR_ARG, "MALA: U must give one energy per sample");
    s->max_chains = max_chains;
    s->dim = (int)dim;
    size_t sizes[N_SLOTS], wg, wu;
    const size_t total = layout(G, U, (size_t)max_chains, sizes, &wg, &wu);
    EB_TRY(be->ops->mem_alloc(be->ctx, &s->arena, total * sizeof(eb_real)));
    s->arena_bytes = total * sizeof(eb_real);
    eb_real **slots[N_SLOTS] = {&s->e, &s->g, &s->zp, &s->ep, &s->gp, &s->accepted, &s->seed, &s->dx, &s->sq};
    eb_real *p = s->arena;
    for (int i = 0; i < N_SLOTS; i++) {
        *slots[i] = p;
        p += sizes[i];
    }
    eb_status st = EB_OK;
    if (G) st = eb_net_ws_init_at(&s->ws_G, G, max_chains, 0, p);
    if (st == EB_OK) st = eb_net_ws_init_at(&s->ws_U, U, max_chains, 0, p + wg);
    if (st != EB_OK) eb_mala_free(s, be);
    return st;
}

void eb_mala_free(eb_mala *s, const eb_backend *be) {
    eb_net_ws_free(&s->ws_G, be); /* host pointer arrays only: the memory is the arena's */
    eb_net_ws_free(&s->ws_U, be);
    if (s->arena) be->ops->mem_free(be->ctx, s->arena);
    memset(s, 0, sizeof *s);
}

eb_status eb_mala_energy(const eb_backend *be, eb_mala *s, eb_net *G, eb_net *U, const eb_real *z, int n,
                         const eb_mala_cfg *cfg, eb_real *e, eb_real *g) {
    const eb_ops *o = be->ops;
    size_t N = (size_t)n, D = (size_t)s->dim;
    const eb_real *x = z;
    /* inference mode: batch-norm running statistics, so chains do not couple (DESIGN.md §3 note b) */
    if (G) {
        EB_TRY(eb_net_forward(be, G, &s->ws_G, z, n, EB_MODE_INFER));
        x = s->ws_G.h[G->n_layers];
    }
    EB_TRY(eb_net_forward(be, U, &s->ws_U, x, n, EB_MODE_INFER));
    EB_TRY(o->axpby(be->ctx, e, (eb_real)cfg->beta, s->ws_U.h[U->n_layers], 0, N));
    /* grad_z (beta U(G(z))): input-only backwards through U then G, seed beta per chain */
    EB_TRY(o->fill(be->ctx, s->seed, (eb_real)cfg->beta, N));
    if (G) {
        EB_TRY(eb_net_backward(be, U, &s->ws_U, s->seed, n, EB_MODE_INFER, 0, s->dx, 0));
        EB_TRY(eb_net_backward(be, G, &s->ws_G, s->dx, n, EB_MODE_INFER, 0, g, 0));
    } else {
        EB_TRY(eb_net_backward(be, U, &s->ws_U, s->seed, n, EB_MODE_INFER, 0, g, 0));
    }
    if (cfg->prior) { /* + ½||z||², gradient z */
        EB_TRY(o->row_sqnorm(be->ctx, z, N, D, s->sq));
        EB_TRY(o->axpby(be->ctx, e, (eb_real)0.5, s->sq, 1, N));
        EB_TRY(o->axpby(be->ctx, g, 1, z, 1, N * D));
    }
    return EB_OK;
}

/* The steps of eb_mala_run, its arguments checked. */
static eb_status run_steps(const eb_backend *be, eb_mala *s, eb_net *G, eb_net *U, eb_real *z, int n,
                           int64_t first_chain, int64_t total_chains, const eb_mala_cfg *cfg, double *accept_per_step) {
    const eb_ops *o = be->ops;
    size_t N = (size_t)n, D = (size_t)s->dim;
    EB_TRY(o->fill(be->ctx, s->accepted, 0, N));
    EB_TRY(eb_mala_energy(be, s, G, U, z, n, cfg, s->e, s->g));
    eb_real before = 0;
    for (int t = 0; t < cfg->steps; t++) {
        /* counters of (step t, global chain c): offset + (t * total_chains + c) * (dim + 1) + j, j < dim the
         * noise, j = dim the uniform (ops.h): independent of how the chains are chunked */
        uint64_t base = cfg->offset + ((uint64_t)t * (uint64_t)total_chains + (uint64_t)first_chain) * (D + 1);
        const eb_rng_pos pos = {cfg->seed, base, cfg->clock, cfg->stride};
        EB_TRY(o->mala_propose(be->ctx, z, s->g, s->zp, N, D, (eb_real)cfg->alpha, pos));
        EB_TRY(eb_mala_energy(be, s, G, U, s->zp, n, cfg, s->ep, s->gp));
        EB_TRY(o->mala_accept(be->ctx, z, s->e, s->g, s->zp, s->ep, s->gp, N, D, (eb_real)cfg->alpha,
                              cfg->kind == EB_MCMC_ULA, pos, s->accepted));
        if (accept_per_step) { /* the chunk's total so far, differenced: a sync per step, on request only */
            eb_real tot;
            EB_TRY(o->reduce_sum(be->ctx, s->accepted, N, s->sq, 1, 0));
            EB_TRY(o->mem_download(be->ctx, &tot, s->sq, sizeof tot));
            accept_per_step[t] += (double)(tot - before);
            before = tot;
        }
    }
    return EB_OK;
}

eb_status eb_mala_run(const eb_backend *be, eb_mala *s, eb_net *G, eb_net *U, eb_real *z, int n, int64_t first_chain,
                      int64_t total_chains, const eb_mala_cfg *cfg, double *accept_per_step) {
    if (n < 1 || n > s->max_chains) return EB_FAIL(EB_ERR_ARG, "MALA: chunk of %d chains outside [1, %d]", n, s->max_chains);
    if (first_chain < 0 || first_chain + n > total_chains) return EB_FAIL(EB_ERR_ARG, "MALA: chains out of range");
    if (cfg->kind == EB_MCMC_NONE || cfg->steps <= 0) return EB_OK;
    if (!(cfg->alpha > 0)) return EB_FAIL(EB_ERR_ARG, "MALA: --alpha must be > 0, got %g", cfg->alpha);
    eb_nvtx_push("MALA chains");
    /* G (NULL: chains in data space) and U stay fixed along the chains: every step's convolutions read their
     * frozen weights' forms (net.h) */
    if (G) eb_net_freeze(G, be);
    eb_net_freeze(U, be);
    eb_status st = run_steps(be, s, G, U, z, n, first_chain, total_chains, cfg, accept_per_step);
    eb_net_thaw(U, be);
    if (G) eb_net_thaw(G, be);
    eb_nvtx_pop();
    return st;
}
