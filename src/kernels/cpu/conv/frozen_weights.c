/* The CPU backend's cache of frozen weights' transformed forms (frozen_weights.h): a net freezes its parameters
 * for a stretch of calls with unchanged weights, and the Winograd layers' convolutions read forms made once. */
#include "frozen_weights.h"

#include "../cpu_ops.h"
#include "wino.h"

#include <string.h>

static eb_cpu_frozen *frozen_of(void *ctx) { return ((eb_cpu_ctx *)ctx)->frozen; }

void eb_cpu_weights_freeze(void *ctx, const eb_real *w, size_t n) {
    eb_cpu_frozen *f = frozen_of(ctx);
    eb_cpu_frozen_region *slot = NULL;
    for (int i = 0; i < EB_CPU_FROZEN_REGIONS; i++) {
        eb_cpu_frozen_region *r = &f->regions[i];
        if (r->w == w && r->depth > 0) { /* nested: the outer freeze's forms stay valid */
            r->depth++;
            return;
        }
        if (!r->w && !slot) slot = r;
    }
    if (!slot || !w || !n) return;
    *slot = (eb_cpu_frozen_region){.w = w, .n = n, .depth = 1, .gen = ++f->next_gen};
}

void eb_cpu_weights_thaw(void *ctx, const eb_real *w) {
    eb_cpu_frozen *f = frozen_of(ctx);
    for (int i = 0; i < EB_CPU_FROZEN_REGIONS; i++) {
        eb_cpu_frozen_region *r = &f->regions[i];
        if (r->w == w && r->depth > 0) {
            if (--r->depth == 0) memset(r, 0, sizeof *r);
            return;
        }
    }
}

void eb_cpu_frozen_release(void *ctx, const void *w) {
    eb_cpu_frozen *f = frozen_of(ctx);
    for (int i = 0; f && i < EB_CPU_FROZEN_REGIONS; i++)
        if (f->regions[i].w && (const void *)f->regions[i].w == w) memset(&f->regions[i], 0, sizeof f->regions[i]);
}

/* The frozen region holding w, or NULL. */
static const eb_cpu_frozen_region *region_of(const eb_cpu_frozen *f, const eb_real *w) {
    for (int i = 0; i < EB_CPU_FROZEN_REGIONS; i++) {
        const eb_cpu_frozen_region *r = &f->regions[i];
        if (r->w && w >= r->w && w < r->w + r->n) return r;
    }
    return NULL;
}

static int same_layer(const eb_conv_geom *a, const eb_conv_geom *b) {
    return a->c_in == b->c_in && a->h_in == b->h_in && a->w_in == b->w_in && a->c_out == b->c_out &&
           a->h_out == b->h_out && a->w_out == b->w_out && a->k_h == b->k_h && a->k_w == b->k_w &&
           a->stride == b->stride && a->pad == b->pad;
}

/* 1 while a form can still be read: its weights are frozen and it was made in their region's generation. */
static int form_valid(const eb_cpu_frozen *f, const eb_cpu_frozen_form *s) {
    const eb_cpu_frozen_region *r = s->w ? region_of(f, s->w) : NULL;
    return r && r->gen == s->gen;
}

/* The slot of (w, op, g): its own, else a free one, else one whose form can no longer be read; NULL if none. */
static eb_cpu_frozen_form *form_slot(eb_cpu_frozen *f, const eb_conv_geom *g, int op, const eb_real *w) {
    eb_cpu_frozen_form *free_slot = NULL, *stale = NULL;
    for (int i = 0; i < EB_CPU_FROZEN_FORMS; i++) {
        eb_cpu_frozen_form *s = &f->forms[i];
        if (s->w == w && s->op == op && same_layer(&s->g, g)) return s;
        if (!s->w && !free_slot) free_slot = s;
        else if (s->w && !stale && !form_valid(f, s)) stale = s;
    }
    return free_slot ? free_slot : stale;
}

eb_status eb_cpu_frozen_form_get(void *ctx, const eb_conv_geom *g, int op, const eb_real *w, const eb_real **form) {
    static int mode = -1;
    eb_cpu_frozen *f = frozen_of(ctx);
    *form = NULL;
    const eb_cpu_frozen_region *r = region_of(f, w);
    if (!r || !eb_cpu_env_switch("EBGAN_CPU_PREP", &mode)) return EB_OK;
    const size_t elems = eb_cpu_wino_prep_elems(g, op);
    eb_cpu_frozen_form *s = elems ? form_slot(f, g, op, w) : NULL;
    if (!s) return EB_OK;
    if (s->w != w || s->op != op || !same_layer(&s->g, g)) { /* a new key in this slot */
        s->w = w, s->op = op, s->g = *g, s->g.n = 1, s->gen = 0;
    }
    if (s->cap < elems) {
        void *p = NULL;
        if (eb_cpu_mem_alloc(ctx, &p, elems * sizeof(eb_real)) != EB_OK) {
            eb_error_clear(); /* the per-call path needs no such buffer */
            s->w = NULL;
            return EB_OK;
        }
        eb_cpu_mem_free(ctx, s->data);
        s->data = p, s->cap = elems;
    }
    if (s->gen != r->gen) {
        s->gen = 0;
        EB_TRY(eb_cpu_wino_prepare(ctx, g, op, w, s->data));
        s->gen = r->gen;
        f->made++;
    }
    *form = s->data;
    return EB_OK;
}

uint64_t eb_cpu_frozen_forms_made(void *ctx) { return frozen_of(ctx)->made; }

int eb_cpu_frozen_regions(void *ctx) {
    int n = 0;
    for (int i = 0; i < EB_CPU_FROZEN_REGIONS; i++) n += frozen_of(ctx)->regions[i].depth > 0;
    return n;
}

void eb_cpu_frozen_free(eb_cpu_frozen *f) {
    if (!f) return;
    for (int i = 0; i < EB_CPU_FROZEN_FORMS; i++) eb_cpu_mem_free(NULL, f->forms[i].data);
}
