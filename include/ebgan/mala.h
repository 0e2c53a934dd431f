/* Batched MALA in latent space (DESIGN.md §3): chains z sampling E(z) = beta U(G(z)) (+ ½||z||² with the
 * Gaussian prior), G in inference mode, one forward and one input-only backward of U∘G per step. */
#ifndef EBGAN_MALA_H
#define EBGAN_MALA_H

#include "ebgan/net.h"

typedef enum eb_mcmc_kind { EB_MCMC_NONE = 0, EB_MCMC_MALA, EB_MCMC_ULA } eb_mcmc_kind;

typedef struct eb_mala_cfg {
    eb_mcmc_kind kind; /* mala: Metropolis-adjusted; ula: unadjusted Langevin (no MH, biased) */
    int steps;
    double alpha;      /* step size: z' = z - alpha grad E + sqrt(2 alpha) xi */
    double beta;       /* multiplies U (the paper's "temp" values are betas) */
    int prior;         /* 1: + ½||z||² (the N(0, I) prior of z) */
    uint64_t seed;     /* Philox stream of the noise and the uniforms */
    uint64_t offset;   /* first counter of this run; it uses steps * total_chains * (dim + 1) counters */
    const int64_t *clock; /* backend clock (training: the iteration) or NULL; counters move by stride per tick */
    uint64_t stride;
} eb_mala_cfg;

/* Workspaces for chunks of up to max_chains chains; G may be NULL (z is the sample: known-law tests). */
typedef struct eb_mala {
    int max_chains, dim;
    eb_net_ws ws_G, ws_U;  /* carved from arena */
    eb_real *e, *g, *zp, *ep, *gp, *accepted, *seed, *dx, *sq; /* per chain / per coordinate */
    void *arena;           /* one backend allocation: the buffers above and both workspaces */
    size_t arena_bytes;
} eb_mala;

/* Backend bytes eb_mala_init takes for max_chains chains (chunk sizing from free memory). */
size_t eb_mala_bytes(const eb_net *G, const eb_net *U, int max_chains);

/* Chains per chunk for n_chains: on the CPU 4096 or what 1 GiB holds if fewer; on a GPU as many as 60% of the free memory holds, counting
 * extra_bytes_per_chain the caller adds (its z buffer), and no layer's batch over 2^31 - 1 elements (32-bit
 * indexing in cuDNN / cuBLAS). Never more than n_chains, at least 1. */
int eb_mala_auto_chunk(const eb_backend *be, const eb_net *G, const eb_net *U, size_t extra_bytes_per_chain,
                       int64_t n_chains);

eb_status eb_mala_init(eb_mala *s, const eb_backend *be, const eb_net *G, const eb_net *U, int max_chains);
void eb_mala_free(eb_mala *s, const eb_backend *be);

/* E(z) and grad_z E for n chains (n <= max_chains) into e [n] and g [n, dim]. */
eb_status eb_mala_energy(const eb_backend *be, eb_mala *s, eb_net *G, eb_net *U, const eb_real *z, int n,
                         const eb_mala_cfg *cfg, eb_real *e, eb_real *g);

/* Runs cfg->steps steps on the chunk z [n, dim] (device, updated in place) holding the chains
 * first_chain .. first_chain + n - 1 of total_chains: the counters depend only on (step, global chain), so
 * any chunking gives the same chains (bit for bit in the f64 oracle; in float up to the rounding of GEMMs
 * whose blocking follows the batch size). s->accepted[c] counts each chain's acceptances (zeroed first);
 * accept_per_step (host, [steps], may be NULL) gets the chunk's accepted count of each step added (a sync
 * per step). */
eb_status eb_mala_run(const eb_backend *be, eb_mala *s, eb_net *G, eb_net *U, eb_real *z, int n, int64_t first_chain,
                      int64_t total_chains, const eb_mala_cfg *cfg, double *accept_per_step);

#endif
