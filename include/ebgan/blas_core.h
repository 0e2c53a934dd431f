/* Which OpenBLAS core type (its kernel set: OPENBLAS_CORETYPE's value) this x86 CPU can run, chosen from the
 * CPU's features rather than its model number, and which one the loaded OpenBLAS runs (bench/PROFILE.md). */
#ifndef EBGAN_BLAS_CORE_H
#define EBGAN_BLAS_CORE_H

/* What the CPU reports (cpuid) and what the OS saves on a context switch (XCR0 via xgetbv): an instruction
 * set is usable only when both hold. All 0 off x86. */
typedef struct eb_cpu_features {
    int avx, fma, avx2;                             /* cpuid leaf 1 ECX bits 28, 12; leaf 7 EBX bit 5 */
    int avx512f, avx512dq, avx512bw, avx512vl;      /* cpuid leaf 7 EBX bits 16, 17, 30, 31 */
    int os_avx;                                     /* XCR0 bits 1-2: the OS saves the XMM and YMM state */
    int os_avx512;                                  /* XCR0 bits 5-7: the opmask and full ZMM state */
} eb_cpu_features;

/* The features of the CPU this process runs on. */
void eb_cpu_features_detect(eb_cpu_features *f);

/* The widest OpenBLAS core type the features allow: "SkylakeX" (AVX-512 F, DQ, BW and VL with the OS's ZMM
 * state), "Haswell" (AVX2 and FMA with the YMM state), "Sandybridge" (AVX with the YMM state), or NULL (no AVX:
 * OpenBLAS's own choice stands). A pure function of `f`. */
const char *eb_blas_core_for(const eb_cpu_features *f);

/* The instruction-set level of an OpenBLAS core name, case-insensitive: 3 AVX-512 kernels (SkylakeX, Cooperlake,
 * SapphireRapids), 2 AVX2 + FMA (Haswell, Zen, Excavator), 1 AVX (Sandybridge, Bulldozer, Piledriver,
 * Steamroller), 0 anything older or unknown (Prescott, Core2, Nehalem, ...). */
int eb_blas_core_level(const char *core);

/* The core type to ask OpenBLAS for, given the features and the core it picked by itself (`in_use`): the one of
 * eb_blas_core_for when its level is above in_use's, else NULL (OpenBLAS's own pick is as wide and may be tuned
 * for the model, e.g. Cooperlake or Zen). A pure function of its arguments. */
const char *eb_blas_core_choose(const eb_cpu_features *f, const char *in_use);

/* The core type the loaded OpenBLAS runs (openblas_get_corename), or "unknown" for another BLAS. */
const char *eb_blas_core_name(void);
/* OpenBLAS's build line (openblas_get_config: version, DYNAMIC_ARCH, threading), or "unknown". */
const char *eb_blas_config(void);

/* For a process at its start: the core type to set in OPENBLAS_CORETYPE and re-execute with (OpenBLAS reads it
 * once, as it loads), or NULL when nothing would change: the user set OPENBLAS_CORETYPE (theirs wins), the BLAS
 * is not an OpenBLAS built with DYNAMIC_ARCH (it has one kernel set), or its own pick is as wide. */
const char *eb_blas_core_wanted(void);

/* Sets the threads of OpenBLAS's GEMMs (openblas_set_num_threads; nothing for another BLAS). */
void eb_blas_threads_set(int n);

#endif
