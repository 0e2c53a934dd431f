/* The MEG training loop (DESIGN.md §1): per iteration one G step then n_critic U steps, every random
 * choice drawn from one counter-based stream so that a resumed run replays bit for bit. */
#include "ebgan/train.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "batch_source.h"
#include "eval_during.h"
#include "ebgan/anomaly.h"
#include "ebgan/cuda.h"
#include "ebgan/watchdog.h"
#include "ebgan/stop_signal.h"

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

double eb_trainer_wall_s(const eb_trainer *t) {
    return t->wall_offset + (t->wall_start > 0 ? now_s() - t->wall_start : 0);
}

static eb_status parse_method(eb_trainer *t) {
    eb_train_cfg *c = &t->cfg;
    if (!c->cuda_graph[0]) snprintf(c->cuda_graph, sizeof c->cuda_graph, "on"); /* a config from before the option */
    if (strcmp(c->cuda_graph, "on") && strcmp(c->cuda_graph, "off"))
        return EB_FAIL(EB_ERR_ARG, "--cuda-graph '%s': expected on or off", c->cuda_graph);
    if (!c->conv_algo[0]) snprintf(c->conv_algo, sizeof c->conv_algo, "heuristic"); /* a config from before it */
    EB_TRY(eb_conv_algo_mode_parse(c->conv_algo, &t->conv_algo));
    if (!strcmp(c->penalty, "score")) t->penalty = EB_PENALTY_SCORE;
    else if (!strcmp(c->penalty, "wgan-gp")) t->penalty = EB_PENALTY_WGAN_GP;
    else if (!strcmp(c->penalty, "none")) t->penalty = EB_PENALTY_NONE;
    else return EB_FAIL(EB_ERR_ARG, "--penalty '%s': expected score, wgan-gp or none", c->penalty);
    if (c->penalty_every == 0) c->penalty_every = 1; /* a config from before the option */
    if (c->penalty_every < 1) return EB_FAIL(EB_ERR_ARG, "--penalty-every must be >= 1, got %d", c->penalty_every);
    int e = eb_entropy_parse(c->entropy);
    if (e < 0) return EB_FAIL(EB_ERR_ARG, "--entropy '%s': expected dim, infogan, vera or none", c->entropy);
    t->entropy = (eb_entropy_kind)e;
    if (c->train_mcmc < 0 || (c->train_mcmc > 0 && !(c->train_mcmc_alpha > 0)))
        return EB_FAIL(EB_ERR_ARG, "--train-mcmc must be >= 0 with --train-mcmc-alpha > 0");
    if (c->n_critic < 1) return EB_FAIL(EB_ERR_ARG, "--n-critic must be >= 1, got %d", c->n_critic);
    if (c->iters < 0) return EB_FAIL(EB_ERR_ARG, "--iters must be >= 0");
    if (c->batch < 0 || c->batch == 1)
        return EB_FAIL(EB_ERR_ARG, "--batch must be >= 2 (batch statistics and the shuffled z need 2), got %d",
                       c->batch);
    if (!(c->lr > 0) || !isfinite(c->lr)) return EB_FAIL(EB_ERR_ARG, "--lr %g: must be a finite positive number", c->lr);
    if (c->eval_every < 0 || c->eval_n < 0) return EB_FAIL(EB_ERR_ARG, "--eval-every and --eval-n must be >= 0");
    if (strcmp(c->lr_decay, "none") && strcmp(c->lr_decay, "linear"))
        return EB_FAIL(EB_ERR_ARG, "--lr-decay '%s': expected none or linear", c->lr_decay);
    return eb_trainer_holdout_parse(t);
}

static eb_status load_data(eb_trainer *t) {
    eb_train_cfg *c = &t->cfg;
    if (eb_toy_from_name(c->dataset, &t->toy)) {
        t->is_toy = 1;
        if (c->stack) return EB_FAIL(EB_ERR_ARG, "--stack applies to image data, not to the toy '%s'", c->dataset);
        if (t->holdout_class >= 0)
            return EB_FAIL(EB_ERR_ARG, "--holdout-class needs labelled data: the toy '%s' has no classes", c->dataset);
        return EB_OK;
    }
    eb_dataset raw;
    EB_TRY(eb_dataset_open(&raw, c->dataset));
    if (t->holdout_class >= 0) return eb_trainer_holdout_split(t, &raw);
    if (c->stack > 1) {
        if (raw.c != 1) {
            eb_dataset_free(&raw);
            return EB_FAIL(EB_ERR_ARG, "--stack %d needs 1-channel images; %s has %d channels", c->stack,
                           c->dataset, raw.c);
        }
        eb_rng srng; /* the stacks are fixed per seed, as the paper's table of index tuples */
        eb_rng_init(&srng, c->seed ^ 0x5354414bULL);
        eb_status st = eb_dataset_stack(&t->data, &raw, c->stack, eb_stack_paper_n(c->stack), &srng);
        eb_dataset_free(&raw);
        return st;
    }
    t->data = raw;
    return EB_OK;
}

eb_status eb_trainer_init(eb_trainer *t, const eb_train_cfg *cfg, const char **notice) {
    return eb_trainer_init_dist(t, cfg, NULL, "none", NULL, notice);
}

eb_status eb_trainer_init_dist(eb_trainer *t, const eb_train_cfg *cfg, const eb_ranks *ranks, const char *comm_kind,
                               eb_comm *comm, const char **notice) {
    memset(t, 0, sizeof *t);
    t->metrics.fd = -1;
    t->lock.fd = -1;
    t->saved_step = -1;
    t->cfg = *cfg;
    eb_comm_single(&t->comm_single);
    t->comm = comm ? comm : &t->comm_single;
    eb_train_cfg *c = &t->cfg;
    eb_status st;
    if ((st = parse_method(t)) != EB_OK) return st;
    if ((st = load_data(t)) != EB_OK) goto fail;
    eb_shape xs = t->is_toy ? (eb_shape){EB_TOY_DIM, 1, 1} : eb_dataset_shape(&t->data);
    if ((st = eb_preset_make(&t->preset, c->model, xs, c->z_dim, c->dim)) != EB_OK) goto fail;
    if (!t->is_toy && (st = eb_dataset_check_shape(&t->data, t->preset.data, c->model)) != EB_OK) goto fail;
    /* the preset fills what the user left open; the resolved values are what config.txt records */
    c->z_dim = t->preset.z_dim;
    c->dim = t->preset.dim;
    if (c->batch == 0) c->batch = t->preset.batch;
    if (c->lambda < 0) c->lambda = t->holdout_class >= 0 ? eb_holdout_lambda(t->preset.data) : t->preset.lambda;

    eb_backend_kind bk = !strcmp(c->device, "cpu") ? EB_BACKEND_CPU : !strcmp(c->device, "cuda") ? EB_BACKEND_CUDA
                       : EB_BACKEND_AUTO;
    if (strcmp(c->device, "cpu") && strcmp(c->device, "cuda") && strcmp(c->device, "auto")) {
        st = EB_FAIL(EB_ERR_ARG, "--device '%s': expected auto, cpu or cuda", c->device);
        goto fail;
    }
    eb_cuda_precision prec;
    if ((st = eb_cuda_precision_parse(c->precision, &prec)) != EB_OK) goto fail;
    if ((st = eb_backend_open_device(&t->be, bk, ranks ? ranks->local_rank : 0, notice)) != EB_OK) goto fail;
    if (eb_backend_is_cuda(&t->be) && (st = eb_cuda_set_precision(&t->be, prec)) != EB_OK) goto fail;
    if (eb_backend_is_cuda(&t->be) && (st = eb_cuda_set_conv_algo_mode(&t->be, t->conv_algo)) != EB_OK) goto fail;
    if (ranks && (st = eb_comm_open(t->comm, ranks, comm_kind, &t->be)) != EB_OK) goto fail;
    const int world = t->comm->world;
    if (c->batch % world) {
        st = EB_FAIL(EB_ERR_ARG, "--batch %d is not divisible by the world size %d: each rank takes an equal "
                     "slice of the global batch", c->batch, world);
        goto fail;
    }
    t->b_local = c->batch / world;
    t->check_every = 100;

    eb_gan_specs specs = {t->preset.u_spec, t->preset.g_spec, t->preset.t_trunk_spec, t->preset.t_head_spec,
                          t->preset.e_spec};
    eb_optim_cfg oc = {EB_OPTIM_ADAM, c->lr, c->beta1, c->beta2, c->eps};
    if ((st = eb_gan_init(&t->gan, &t->be, &specs, t->preset.data, c->z_dim, t->entropy, &oc)) != EB_OK) goto fail;
    const eb_vera_cfg vera = {c->vera_k, c->vera_sigma_min, c->vera_sigma_max, c->vera_eta_init, c->vera_post_lr};
    if ((st = eb_gan_set_vera(&t->gan, &vera)) != EB_OK) goto fail;
    eb_rng_init(&t->rng, c->seed);
    if ((st = eb_gan_init_weights(&t->gan, &t->be, &t->rng)) != EB_OK) goto fail;
    if ((st = eb_g_ema_init(&t->g_ema, &t->be, &t->gan.G, c->g_ema)) != EB_OK) goto fail;
    int B = t->b_local; /* every per-sample buffer holds this rank's slice */
    if ((st = eb_gstep_init(&t->gs, &t->be, &t->gan, B)) != EB_OK) goto fail;
    if ((st = eb_gstep_set_comm(&t->gs, &t->be, &t->gan, t->comm)) != EB_OK) goto fail;
    if ((st = eb_ustep_init(&t->us, &t->be, &t->gan.U, B)) != EB_OK) goto fail;
    if ((st = eb_ustep_fakes_init(&t->us, &t->be, &t->gan.G)) != EB_OK) goto fail;
    t->us.ws_G.sync = t->gs.ws_G.sync; /* the fakes' batch norm over the global batch, as in the G step */
    if (c->train_mcmc > 0 && (st = eb_mala_init(&t->mala, &t->be, &t->gan.G, &t->gan.U, B)) != EB_OK) goto fail;
    t->src = calloc(1, sizeof *t->src);
    if (!t->src) {
        st = EB_FAIL(EB_ERR_OOM, "trainer: host buffers");
        goto fail;
    }
    if ((st = eb_batch_source_init(t->src, &t->be, t->is_toy ? NULL : &t->data, t->toy, B)) != EB_OK) goto fail;
    size_t xd = (size_t)eb_shape_numel(t->preset.data);
    size_t xbytes = eb_align_elems((size_t)B * xd) * sizeof(eb_real);
    /* one allocation: [x_real | t_interp | perm_all | clock], each aligned (align.h) */
    size_t tbytes = eb_align_elems((size_t)B) * sizeof(eb_real);
    size_t pbytes = eb_align_elems(((size_t)c->batch * sizeof(int32_t) + sizeof(eb_real) - 1) / sizeof(eb_real)) *
                    sizeof(eb_real);
    if ((st = t->be.ops->mem_alloc(t->be.ctx, &t->arena, xbytes + tbytes + pbytes + sizeof(int64_t))) != EB_OK)
        goto fail;
    t->x_real = t->arena;
    t->t_interp = (eb_real *)((char *)t->arena + xbytes);
    t->perm_all = (int32_t *)((char *)t->arena + xbytes + tbytes);
    t->clock = (int64_t *)((char *)t->arena + xbytes + tbytes + pbytes);
    /* iteration s draws from [start + s * stride, start + (s + 1) * stride), start = the counter after weight init */
    const eb_iteration_plan_cfg pc = {c->batch, c->z_dim, c->n_critic, c->train_mcmc, t->penalty,
                                      !strcmp(c->lr_decay, "linear") && c->iters > 0 ? c->iters : 0,
                                      eb_batch_source_counters(t->src, c->batch), c->lambda, c->penalty_every};
    if ((st = eb_iteration_plan_init(&t->plan, &t->gan, &pc)) != EB_OK) goto fail;
    if ((st = eb_divergence_init(t)) != EB_OK) goto fail;
    if (c->resume[0] && (st = eb_trainer_load(t, c->resume)) != EB_OK) goto fail;
    /* the backend clock holds the iteration the next launch runs (DESIGN.md §4) */
    if ((st = t->be.ops->mem_upload(t->be.ctx, t->clock, &t->step, sizeof t->step)) != EB_OK) goto fail;
    t->use_graph = eb_backend_is_cuda(&t->be) && !strcmp(c->cuda_graph, "on");
    if (t->use_graph) {
        const size_t np = (size_t)EB_PLAN_PATTERNS_MAX(t->plan.n_critic);
        t->graphs = calloc(np, sizeof *t->graphs);
        t->pattern_warm = calloc(np, 1);
        if (!t->graphs || !t->pattern_warm) {
            st = EB_FAIL(EB_ERR_OOM, "trainer: CUDA graph table");
            goto fail;
        }
    }
    return EB_OK;
fail:
    eb_trainer_free(t);
    return st;
}

void eb_trainer_free(eb_trainer *t) {
    eb_jsonl_close(&t->metrics);
    eb_run_lock_release(&t->lock);
    eb_trainer_tb_close(t);
    eb_dataset_free(&t->holdout_test);
    for (int i = 0; t->graphs && i < EB_PLAN_PATTERNS_MAX(t->plan.n_critic); i++) eb_cuda_graph_free(t->graphs[i]);
    free(t->graphs);
    free(t->pattern_warm);
    if (t->be.ops) {
        if (t->arena) t->be.ops->mem_free(t->be.ctx, t->arena);
        eb_divergence_free(t);
        if (t->src) eb_batch_source_free(t->src, &t->be);
        if (t->us.arena) eb_ustep_free(&t->us, &t->be);
        if (t->mala.arena) eb_mala_free(&t->mala, &t->be);
        if (t->gs.arena) eb_gstep_free(&t->gs, &t->be);
        eb_g_ema_free(&t->g_ema, &t->be);
        eb_gan_free(&t->gan, &t->be);
        eb_backend_close(&t->be);
    }
    free(t->src);
    free(t->config_text);
    eb_dataset_free(&t->data);
    memset(t, 0, sizeof *t);
    t->metrics.fd = -1;
    t->lock.fd = -1;
}

static eb_status mkdirs(const char *path) {
    char buf[EB_CFG_PATH_MAX];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/') continue;
        *p = '\0';
        if (mkdir(buf, 0777) && errno != EEXIST) return EB_FAIL(EB_ERR_IO, "cannot create %s: %s", buf, strerror(errno));
        *p = '/';
    }
    if (mkdir(buf, 0777) && errno != EEXIST) return EB_FAIL(EB_ERR_IO, "cannot create %s: %s", buf, strerror(errno));
    return EB_OK;
}

eb_status eb_trainer_open_run(eb_trainer *t) {
    if (t->cfg.resume[0]) {
        snprintf(t->run_dir, sizeof t->run_dir, "%s", t->cfg.resume);
    } else if (t->cfg.out[0]) {
        snprintf(t->run_dir, sizeof t->run_dir, "%s", t->cfg.out);
    } else {
        time_t now = time(NULL);
        struct tm tmv;
        localtime_r(&now, &tmv);
        char stamp[32];
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tmv);
        snprintf(t->run_dir, sizeof t->run_dir, "runs/%s", stamp);
    }
    if (t->comm->rank != 0) return EB_OK; /* rank 0 writes the run directory; the others only read it */
    EB_TRY(mkdirs(t->run_dir));
    /* one writer per directory; then what a dead writer left is ours to clean (README "Output formats") */
    EB_TRY(eb_run_lock_acquire(&t->lock, t->run_dir, &t->stale_lock_pid));
    if (!t->cfg.resume[0]) {
        EB_TRY(eb_run_dir_check_fresh(t->run_dir));
        eb_run_id_make(t->run_id, sizeof t->run_id);
    }
    t->stale_tmp_removed = eb_run_dir_remove_stale_tmp(t->run_dir);
    char path[EB_CFG_PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/metrics.jsonl", t->run_dir);
    /* the steps after the checkpoint are replayed: their old records go, so that no step appears twice */
    EB_TRY(eb_run_metrics_trim(path, t->step, &t->metrics_dropped));
    EB_TRY(eb_jsonl_open(&t->metrics, path, 0));
    return eb_trainer_tb_open(t);
}

/* Hands out consecutive stream positions inside the iteration, all keyed to the backend clock. */
typedef struct draw_cursor { uint64_t seed, next, stride; const int64_t *clock; } draw_cursor;

static eb_rng_pos draw(draw_cursor *d, uint64_t n) {
    eb_rng_pos p = {d->seed, d->next, d->clock, d->stride};
    d->next += n;
    return p;
}

/* This rank's part of a draw over the global batch: samples from `first` on, `per` counters each. */
static eb_rng_pos slice(eb_rng_pos p, uint64_t first, uint64_t per) {
    p.offset += first * per;
    return p;
}

/* Sums one net's gradient over the ranks and scales it as the single process's mean over the global batch
 * (each rank's loss is the mean over its slice). One all-reduce per net per step, on the backend's stream. */
static eb_status grads_allreduce(eb_trainer *t, eb_net *net) {
    if (!eb_comm_active(t->comm) || net->n_params == 0) return EB_OK;
    EB_TRY(eb_comm_allreduce_sum(t->comm, net->grads, net->n_params));
    if (t->comm->world == 1) return EB_OK;
    return t->be.ops->axpby(t->be.ctx, net->grads, (eb_real)(1.0 / t->comm->world), net->grads, 0, net->n_params);
}

/* Issues one iteration's work on the backend: only backend ops, every random draw and every schedule value
 * read from the clock, no host transfer and no host-side value that changes between iterations of one pattern
 * (iteration_plan.h; one unless --penalty-every K > 1), so the same launches captured once into a CUDA graph
 * replay any iteration of it exactly (DESIGN.md §4). With R ranks
 * every draw is positioned at the global index of this rank's first sample, so rank r draws what one
 * process draws for its slice, and the collectives are captured with the rest. */
static eb_status iteration_launch(eb_trainer *t) {
    const eb_backend *be = &t->be;
    const eb_ops *o = be->ops;
    const eb_iteration_plan *p = &t->plan;
    eb_gan *m = &t->gan;
    const eb_train_cfg *c = &t->cfg;
    const int B = c->batch, b = t->b_local;
    const uint64_t r0 = (uint64_t)t->comm->rank * (uint64_t)b, zd = (uint64_t)c->z_dim;
    const size_t zb = (size_t)b * (size_t)c->z_dim;
    draw_cursor d = {t->rng.seed, t->rng.counter - (uint64_t)t->step * p->stride, p->stride, t->clock};
    const uint64_t first = d.next;

    /* G step (NVTX ranges name the phases for Nsight Systems; in graph mode they mark the capture) */
    eb_nvtx_push("G step");
    EB_TRY(o->rng_perm(be->ctx, t->perm_all, (size_t)B, draw(&d, p->perm))); /* the paper's randperm */
    EB_TRY(eb_gstep_grad(be, m, &t->gs, b, slice(draw(&d, p->z_g), r0, zd), t->perm_all, (eb_real)c->mi_weight));
    eb_nvtx_push("optimiser");
    const eb_optim_clock once = {t->clock, 1, 1, p->decay_iters};
    for (int i = 0; i < p->n_g_nets; i++) { /* G, then the surrogate's nets */
        EB_TRY(grads_allreduce(t, p->g_nets[i]));
        EB_TRY(eb_optim_update(p->g_opts[i], be, p->g_nets[i]->params, p->g_nets[i]->grads, &once));
    }
    eb_nvtx_pop();
    eb_nvtx_pop();
    /* U steps, each on a fresh real batch and fresh fakes (G in training mode, as the paper's code) made in the
     * U step's own buffers. G stays fixed through them: frozen (net.h), thawed on every way out. */
#define CRITIC_TRY(x) do { if ((st = (x)) != EB_OK) goto critic_done; } while (0)
    eb_status st = EB_OK;
    eb_net_freeze(&m->G, be);
    const uint64_t per_row = eb_batch_source_counters(t->src, 1);
    for (int k = 0; k < p->n_critic; k++) {
        eb_nvtx_push("U step");
        eb_nvtx_push("data");
        CRITIC_TRY(eb_batch_source_next(t->src, be, slice(draw(&d, p->data), r0, per_row), b, t->x_real));
        eb_nvtx_pop();
        CRITIC_TRY(o->rng_normal(be->ctx, t->us.z, zb, slice(draw(&d, p->z_u), r0, zd)));
        const eb_rng_pos mp = draw(&d, p->mcmc);
        if (p->mcmc_steps > 0) {
            /* refine the negatives' latents by MALA on beta U(G(z)) + ½||z||² (DESIGN.md §3), G in
             * inference mode for the chains; chains are keyed by their global index */
            eb_nvtx_push("MALA");
            eb_mala_cfg mc = {EB_MCMC_MALA, p->mcmc_steps, c->train_mcmc_alpha, 1.0, 1, c->seed, mp.offset,
                              mp.clock, mp.stride};
            CRITIC_TRY(eb_mala_run(be, &t->mala, &m->G, &m->U, t->us.z, b, (int64_t)r0, B, &mc, NULL));
            eb_nvtx_pop();
        }
        const eb_real *x_fake = NULL;
        CRITIC_TRY(eb_ustep_fakes(be, &m->G, &t->us, b, &x_fake));
        const eb_rng_pos np = slice(draw(&d, p->noise_u), r0, p->noise_u / (uint64_t)B);
        if (p->noise_u) CRITIC_TRY(eb_gstep_perturb_fakes(be, m, &t->gs, (eb_real *)x_fake, b, np));
        const eb_rng_pos tp = slice(draw(&d, p->interp_t), r0, 1);
        const eb_real *interp = NULL;
        if (p->interp) {
            CRITIC_TRY(o->rng_uniform(be->ctx, t->t_interp, (size_t)b, tp));
            interp = t->t_interp;
        }
        /* the lazy penalty's U steps are fixed by (step, k): the launches differ between iterations only by the
         * plan's pattern, and eb_trainer_iteration keeps one graph per pattern (DESIGN.md §4.5) */
        const eb_ustep_cfg uc = eb_iteration_plan_ustep(p, t->step, k);
        CRITIC_TRY(eb_ustep_grad(be, p->u_net, &t->us, t->x_real, x_fake, interp, b, &uc));
        CRITIC_TRY(grads_allreduce(t, p->u_net));
        eb_nvtx_push("optimiser");
        const eb_optim_clock uk = {t->clock, p->n_critic, k + 1, p->decay_iters};
        CRITIC_TRY(eb_optim_update(p->u_opt, be, p->u_net->params, p->u_net->grads, &uk));
        eb_nvtx_pop();
        eb_nvtx_pop();
    }
critic_done:
    eb_net_thaw(&m->G, be);
#undef CRITIC_TRY
    EB_TRY(st);
    /* the average of G, after the U steps: their fakes moved G's batch-norm buffers (g_ema.h) */
    EB_TRY(eb_g_ema_update(&t->g_ema, be, &m->G));
    EB_TRY(eb_divergence_mark(t)); /* device-side marks, read when the run logs or saves (DESIGN.md §4.8) */
    /* the draws above and the plan's stride are one layout: resume and the graph replay depend on it */
    if (d.next - first != p->stride)
        return EB_FAIL(EB_ERR_ARG, "iteration: drew %llu counters of the stream, the plan's stride is %llu",
                       (unsigned long long)(d.next - first), (unsigned long long)p->stride);
    return o->clock_add(be->ctx, t->clock, 1);
}

/* The host's side of a finished iteration: the counts the clock and the optimisers' schedules follow, as the
 * plan says (the backend clock moved in the launch). */
static void iteration_advance(eb_trainer *t) {
    eb_iteration_plan_count(&t->plan);
    t->rng.counter += t->plan.stride;
    t->step++;
}

eb_status eb_trainer_iteration(eb_trainer *t) {
    /* With --penalty-every K > 1 the U steps that take the penalty move from one iteration to the next, so one
     * graph cannot replay them all. Restarting the count of U steps in every iteration would keep one graph but
     * penalise every K-th step only when K divides n_critic (and never past the first when K > n_critic);
     * keying graphs by the iteration modulo K / gcd(K, n_critic) would capture up to K of them, most alike.
     * The plan's pattern (the first penalised U step of the iteration, or none) fixes the launches and takes
     * at most n_critic + 1 values, so each pattern gets its own graph, captured after one eager iteration of it
     * (cuDNN's algorithm search for its launches synchronises and allocates, which a capture cannot hold;
     * DESIGN.md §4.5). At K = 1 there is one pattern: the first iteration runs eagerly, every later one replays. */
    const int q = t->graphs ? eb_iteration_plan_pattern(&t->plan, t->step) : 0;
    eb_cuda_graph **graph = t->graphs ? &t->graphs[q] : NULL;
    if (graph && !*graph && t->pattern_warm[q]) {
        EB_TRY(eb_cuda_graph_begin(&t->be));
        eb_status st = iteration_launch(t);
        eb_cuda_graph *g = NULL;
        eb_status st_end = eb_cuda_graph_end(&t->be, st == EB_OK, &g);
        if (st != EB_OK) return st;
        if (st_end != EB_OK) return st_end;
        *graph = g;
    }
    if (graph && *graph) {
        eb_nvtx_push("iteration (CUDA graph)");
        eb_status st = eb_cuda_graph_launch(&t->be, *graph);
        eb_nvtx_pop();
        EB_TRY(st);
    } else {
        EB_TRY(iteration_launch(t));
        t->eager_done++;
        if (graph) t->pattern_warm[q] = 1;
    }
    iteration_advance(t);
    return EB_OK;
}

/* ||grad||_2 of one net (a sync point: logging only). */
static double grad_norm(const eb_backend *be, const eb_net *net, eb_real *scratch) {
    if (net->n_params == 0) return 0;
    eb_real v = 0;
    if (be->ops->row_sqnorm(be->ctx, net->grads, 1, net->n_params, scratch) != EB_OK) return NAN;
    if (be->ops->mem_download(be->ctx, &v, scratch, sizeof v) != EB_OK) return NAN;
    return sqrt((double)v);
}

static void fmt_eta(double s, char *buf, size_t cap) {
    if (!isfinite(s) || s < 0) s = 0;
    long x = (long)(s + 0.5);
    if (x >= 3600) snprintf(buf, cap, "%ldh%02ldm", x / 3600, (x / 60) % 60);
    else snprintf(buf, cap, "%ldm%02lds", x / 60, x % 60);
}

eb_status eb_trainer_run(eb_trainer *t, FILE *log) {
    const eb_train_cfg *c = &t->cfg;
    int live = c->progress < 0 ? isatty(fileno(log)) : c->progress;
    t->wall_start = now_s();
    int64_t first = t->step;
    double last_t = t->wall_start;
    int64_t last_step = t->step;
    eb_real *scratch = t->us.terms; /* reused after the terms were read: logging only */
    t->stop_signo = 0;
    /* a rollback needs a checkpoint to go back to: the run's start is the first */
    if (t->div.rollback_max > 0 && t->step == 0 && t->saved_step < 0 && c->iters > 0 && t->comm->rank == 0)
        EB_TRY(eb_trainer_save(t));
    EB_TRY(eb_eval_during_check(t));
    while (t->step < c->iters) {
        /* a stop signal ends the run between iterations (stop_signal.h); a multi-rank run agrees on it first,
         * so every rank stops after the same iteration (one small all-reduce per iteration) */
        if ((t->stop_signo = eb_trainer_agree_stop(t, eb_stop_signal_pending())) != 0) break;
        EB_TRY(eb_trainer_iteration(t));
        eb_watchdog_beat(); /* a multi-rank job's collectives completed (watchdog.h) */
        int64_t s = t->step;
        int is_last = s == c->iters;
        if (eb_divergence_due(t, s)) { /* nothing is logged, saved or plotted past a non-finite value */
            int rolled_back = 0;
            EB_TRY(eb_divergence_poll(t, log, &rolled_back));
            if (rolled_back) {
                last_t = now_s();
                last_step = t->step;
                continue;
            }
        }
        /* --eval-every: measured first, its time left out of it/s; its figures join the step's metrics line */
        const int is_eval = c->eval_every > 0 && (s % c->eval_every == 0 || is_last);
        eb_eval_point ev = {0};
        if (is_eval && t->comm->rank == 0) {
            EB_TRY(eb_eval_during_run(t, &ev));
            last_t += ev.seconds;
        }
        if (s % c->log_every == 0 || is_last || is_eval) {
            double u[EB_UTERM_COUNT], g[EB_GTERM_COUNT];
            EB_TRY(eb_ustep_read_terms(&t->be, &t->us, u));
            EB_TRY(eb_gstep_read_terms(&t->be, &t->gs, g));
            EB_TRY(eb_trainer_reduce_terms(t, u, g));
            double now = now_s();
            double its = (double)(s - last_step) / (now - last_t + 1e-12);
            double wall = t->wall_offset + (now - t->wall_start);
            double gn_u = grad_norm(&t->be, &t->gan.U, scratch);
            double gn_g = grad_norm(&t->be, &t->gan.G, scratch);
            /* the surrogate's last net: the one its loss reads (dim's head, infogan's encoder) */
            const int n_aux = t->gan.n_aux;
            double gn_t = n_aux > 0 ? grad_norm(&t->be, t->gan.aux[n_aux - 1], scratch) : 0;
            /* one whole line per write, non-finite values as null; a failed write stops the run (rank 0's) */
            eb_json_line l;
            eb_json_line_begin(&l);
            eb_json_line_int(&l, "step", s);
            eb_json_line_num(&l, "wall_s", round(wall * 1000) / 1000);
            eb_json_line_num(&l, "u_loss", u[EB_UTERM_LOSS]);
            eb_json_line_num(&l, "u_real", u[EB_UTERM_U_REAL]);
            eb_json_line_num(&l, "u_fake", u[EB_UTERM_U_FAKE]);
            eb_json_line_num(&l, "penalty", u[EB_UTERM_PENALTY]);
            eb_json_line_num(&l, "g_loss", g[EB_GTERM_LOSS]);
            eb_json_line_num(&l, "g_u_fake", g[EB_GTERM_U_FAKE]);
            eb_json_line_num(&l, "mi_loss", g[EB_GTERM_MI]);
            eb_json_line_num(&l, "grad_norm_u", gn_u);
            eb_json_line_num(&l, "grad_norm_g", gn_g);
            eb_json_line_num(&l, "grad_norm_mi", gn_t);
            eb_json_line_num(&l, "it_per_s", its);
            eb_json_line_num(&l, "samples_per_s", its * c->batch * c->n_critic);
            eb_eval_during_json(&ev, &l);
            eb_json_line_end(&l);
            if (t->comm->rank == 0) EB_TRY(eb_jsonl_append(&t->metrics, &l)); /* rank 0 writes the run */
            const eb_tb_scalar tb[] = {
                {"loss/u_loss", u[EB_UTERM_LOSS]}, {"energy/u_real", u[EB_UTERM_U_REAL]},
                {"energy/u_fake", u[EB_UTERM_U_FAKE]}, {"loss/penalty", u[EB_UTERM_PENALTY]},
                {"loss/g_loss", g[EB_GTERM_LOSS]}, {"energy/g_u_fake", g[EB_GTERM_U_FAKE]},
                {"loss/mi_loss", g[EB_GTERM_MI]}, {"grad/grad_norm_u", gn_u}, {"grad/grad_norm_g", gn_g},
                {"grad/grad_norm_mi", gn_t}, {"speed/it_per_s", its}, {"speed/samples_per_s", its * c->batch * c->n_critic},
                {"speed/wall_s", wall}};
            if (t->comm->rank == 0) EB_TRY(eb_trainer_tb_scalars(t, s, tb, (int)(sizeof tb / sizeof tb[0])));
            if (t->comm->rank == 0) EB_TRY(eb_eval_during_tb(t, s, &ev));
            char eta[32];
            fmt_eta((double)(c->iters - s) / (its > 0 ? its : 1e-9), eta, sizeof eta);
            FILE *out = t->comm->rank == 0 ? log : NULL; /* one progress line per job: rank 0's */
            if (out && live)
                fprintf(log, "\r[%lld/%lld] %.2f it/s ETA %s | U %.4f (real %.4f fake %.4f pen %.4f) | G %.4f mi %.4f   ",
                        (long long)s, (long long)c->iters, its, eta, u[EB_UTERM_LOSS], u[EB_UTERM_U_REAL],
                        u[EB_UTERM_U_FAKE], u[EB_UTERM_PENALTY], g[EB_GTERM_LOSS], g[EB_GTERM_MI]);
            else if (out)
                fprintf(log, "step %lld/%lld  %.2f it/s  eta %s  u_loss %.5f  u_real %.5f  u_fake %.5f  penalty %.5f  "
                        "g_loss %.5f  mi %.5f\n",
                        (long long)s, (long long)c->iters, its, eta, u[EB_UTERM_LOSS], u[EB_UTERM_U_REAL],
                        u[EB_UTERM_U_FAKE], u[EB_UTERM_PENALTY], g[EB_GTERM_LOSS], g[EB_GTERM_MI]);
            for (int k = 0; out && ev.done && k < ev.n_gens; k++)
                fprintf(log, "%seval step %lld (%s): modes covered %lld, KL %.4f (%d samples; %.2f s, not in it/s)\n",
                        live && k == 0 ? "\n" : "", (long long)s, k ? "average of G" : "G",
                        (long long)ev.modes_covered[k], ev.kl_uniform[k], ev.samples, ev.seconds);
            fflush(log);
            last_t = now;
            last_step = s;
        }
        const int ckpt = (c->ckpt_every > 0 && s % c->ckpt_every == 0) || is_last;
        if (ckpt || s % t->check_every == 0) EB_TRY(eb_trainer_check_agreement(t));
        if (t->comm->rank == 0) { /* rank 0 writes; the weights are the same on every rank (checked above) */
            if (ckpt) EB_TRY(eb_trainer_save(t));
            eb_watchdog_beat();
            if ((c->plot_every > 0 && s % c->plot_every == 0) || is_last) EB_TRY(eb_trainer_plot(t));
        }
    }
    if (t->stop_signo && t->comm->rank == 0 && t->saved_step != t->step) EB_TRY(eb_trainer_save(t));
    if (live) fprintf(log, "\n");
    (void)first;
    return EB_OK;
}
