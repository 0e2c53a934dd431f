/* The OpenBLAS core type from the CPU's features (blas_core.h): cpuid and XCR0 read here, the choice a pure
 * function of them, and what the loaded OpenBLAS reports about itself. */
#include "ebgan/blas_core.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

/* OpenBLAS's own queries. EB_BLAS_OPENBLAS (CMakeLists.txt) says the BLAS is OpenBLAS: the references are then
 * strong, so that even a program without a GEMM of its own loads the library; against another BLAS they are
 * weak, resolve to nothing, and the answers are "unknown". */
#ifdef EB_BLAS_OPENBLAS
#define EB_BLAS_REF
#define EB_BLAS_HAS(fn) 1
#else
#define EB_BLAS_REF __attribute__((weak))
#define EB_BLAS_HAS(fn) ((fn) != NULL)
#endif
extern char *openblas_get_corename(void) EB_BLAS_REF;
extern char *openblas_get_config(void) EB_BLAS_REF;
extern void openblas_set_num_threads(int n) EB_BLAS_REF;

#if defined(__x86_64__) || defined(__i386__)
/* XCR0, the state components the OS saves (only readable when the OS set CR4.OSXSAVE) */
static unsigned long long xcr0_read(void) {
    unsigned int lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}
#endif

void eb_cpu_features_detect(eb_cpu_features *f) {
    memset(f, 0, sizeof *f);
#if defined(__x86_64__) || defined(__i386__)
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return;
    f->avx = (c >> 28) & 1;
    f->fma = (c >> 12) & 1;
    const int osxsave = (c >> 27) & 1;
    if (__get_cpuid_count(7, 0, &a, &b, &c, &d)) {
        f->avx2 = (b >> 5) & 1;
        f->avx512f = (b >> 16) & 1;
        f->avx512dq = (b >> 17) & 1;
        f->avx512bw = (b >> 30) & 1;
        f->avx512vl = (b >> 31) & 1;
    }
    if (osxsave) {
        const unsigned long long x = xcr0_read();
        f->os_avx = (x & 0x6) == 0x6;
        f->os_avx512 = f->os_avx && (x & 0xe0) == 0xe0;
    }
#endif
}

const char *eb_blas_core_for(const eb_cpu_features *f) {
    if (f->os_avx512 && f->avx512f && f->avx512dq && f->avx512bw && f->avx512vl) return "SkylakeX";
    if (f->os_avx && f->avx2 && f->fma) return "Haswell";
    if (f->os_avx && f->avx) return "Sandybridge";
    return NULL;
}

int eb_blas_core_level(const char *core) {
    static const struct { const char *name; int level; } k_levels[] = {
        {"SkylakeX", 3},    {"Cooperlake", 3}, {"SapphireRapids", 3}, {"Haswell", 2},     {"Zen", 2},
        {"Excavator", 2},   {"Sandybridge", 1}, {"Bulldozer", 1},     {"Piledriver", 1}, {"Steamroller", 1}};
    if (!core) return 0;
    for (size_t i = 0; i < sizeof k_levels / sizeof k_levels[0]; i++)
        if (!strcasecmp(core, k_levels[i].name)) return k_levels[i].level;
    return 0;
}

const char *eb_blas_core_choose(const eb_cpu_features *f, const char *in_use) {
    const char *want = eb_blas_core_for(f);
    if (!want || eb_blas_core_level(want) <= eb_blas_core_level(in_use)) return NULL;
    return want;
}

const char *eb_blas_core_name(void) {
    const char *s = EB_BLAS_HAS(openblas_get_corename) ? openblas_get_corename() : NULL;
    return s && s[0] ? s : "unknown";
}

const char *eb_blas_config(void) {
    const char *s = EB_BLAS_HAS(openblas_get_config) ? openblas_get_config() : NULL;
    return s && s[0] ? s : "unknown";
}

const char *eb_blas_core_wanted(void) {
    if (getenv("OPENBLAS_CORETYPE")) return NULL;
    /* a build for one target ignores OPENBLAS_CORETYPE: re-executing would change nothing */
    if (!strstr(eb_blas_config(), "DYNAMIC_ARCH")) return NULL;
    eb_cpu_features f;
    eb_cpu_features_detect(&f);
    return eb_blas_core_choose(&f, eb_blas_core_name());
}

void eb_blas_threads_set(int n) {
    if (EB_BLAS_HAS(openblas_set_num_threads) && n > 0) openblas_set_num_threads(n);
}
