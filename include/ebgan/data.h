/* Training data in host memory: 2-D toys drawn in code, .npy / IDX / CIFAR-10 binary files, and
 * StackedMNIST-style channel stacking (DESIGN.md §5). Images stay uint8; toys and .npy are float32 rows. */
#ifndef EBGAN_DATA_H
#define EBGAN_DATA_H

#include <stddef.h>
#include <stdint.h>
#include "ebgan/net.h"
#include "ebgan/rng.h"
#include "ebgan/status.h"
#include "ebgan/tensor.h"
#include "ebgan/toy_formula.h"

/* ---------------------------------------------------------------------------------------------
 * The dataset: n samples of per-sample shape [c, h, w] (dense rows: [d, 1, 1], as eb_net expects).
 * Rows are contiguous, CHW within a row. Image files are kept as uint8 0..255 so the trainer can keep
 * them resident on the device and normalise a minibatch in a kernel: gather_rows_u8 with
 * scale EB_DATA_U8_SCALE, shift EB_DATA_U8_SHIFT maps 0..255 to [-1, 1] (x/255*2-1, the paper's code).
 * float32 rows (toys, float .npy) are used as they are.
 * ------------------------------------------------------------------------------------------- */
typedef enum eb_data_storage { EB_DATA_U8 = 0, EB_DATA_F32 = 1 } eb_data_storage;

#define EB_DATA_U8_SCALE (2.0f / 255.0f)
#define EB_DATA_U8_SHIFT (-1.0f)

typedef struct eb_dataset {
    int64_t n;               /* samples; always <= INT32_MAX (minibatch indices are int32) */
    int c, h, w;             /* per-sample shape */
    eb_data_storage storage;
    uint8_t *u8;             /* [n, c*h*w] pixels 0..255 when storage == EB_DATA_U8, else NULL (owned) */
    float *f32;              /* [n, c*h*w] when storage == EB_DATA_F32, else NULL (owned) */
    int32_t *labels;         /* [n] class ids in [0, n_classes), or NULL when the format has none (owned) */
    int n_classes;           /* 0 when labels == NULL */
    char *name;              /* the path(s) or toy name it came from, for messages (owned) */
} eb_dataset;

/* Allocate an empty (zero-filled) dataset of the given shape; labels allocated when with_labels.
 * Every loader below produces its result through this; pair with eb_dataset_free. */
eb_status eb_dataset_init(eb_dataset *ds, const char *name, int64_t n, int c, int h, int w,
                          eb_data_storage storage, int with_labels);
/* Frees what the dataset owns and zeroes it (safe on a zeroed or already-freed struct). */
void eb_dataset_free(eb_dataset *ds);

static inline eb_shape eb_dataset_shape(const eb_dataset *ds) { eb_shape s = {ds->c, ds->h, ds->w}; return s; }
static inline int64_t eb_dataset_row_elems(const eb_dataset *ds) { return (int64_t)ds->c * ds->h * ds->w; }

/* Where Debian's package dataset-fashion-mnist puts the IDX files. */
#define EB_FASHION_MNIST_DIR "/usr/share/datasets/fashion-mnist"

/* Open a data set from a --data spec, by name or by content:
 *   "fashion-mnist"      the training set in EB_FASHION_MNIST_DIR (60000 x 1x28x28, labels);
 *   "cifar10:X"          CIFAR-10 binary batches: X a directory (data_batch_1..5.bin, or its
 *                        cifar-10-batches-bin/ folder), one file, or a comma-separated list of files;
 *   a .npy file          (magic \x93NUMPY; see eb_dataset_load_npy);
 *   an IDX images file   gzipped or not; the labels file beside it ("...images-idx3-ubyte..." ->
 *                        "...labels-idx1-ubyte...") is loaded when it exists;
 *   a *.bin file or a comma-separated list: CIFAR-10 batches;
 *   a directory          holding train-images-idx3-ubyte[.gz] (MNIST layout) or CIFAR-10 batches.
 * Toy names are not files (EB_ERR_ARG): use eb_toy_* below. Errors name the file and the problem. */
eb_status eb_dataset_open(eb_dataset *ds, const char *spec);

/* The data must fit the model's input: EB_ERR_ARG "data <name> has samples of shape 1x28x28 but model
 * '<model_name>' expects 3x32x32". A dense model ([d, 1, 1]) also accepts images of d = c*h*w elements
 * (linear layers flatten CHW rows; same memory). */
eb_status eb_dataset_check_shape(const eb_dataset *ds, eb_shape model_in, const char *model_name);

/* Host gather: out[r, :] = row idx[r] as float ([n, c*h*w]); uint8 rows mapped to [-1, 1] exactly as the
 * device's gather_rows_u8 does (x * 2/255 - 1). For the CPU path, tests and evaluation. EB_ERR_ARG for an
 * index out of range. */
eb_status eb_dataset_gather(const eb_dataset *ds, const int32_t *idx, size_t n, float *out);

/* "1x28x28" into buf (returns buf). */
const char *eb_shape_str(eb_shape s, char *buf, size_t cap);

/* ---------------------------------------------------------------------------------------------
 * 2-D toys, exactly as the paper's code (data/toy.py @1df291a5, = WGAN-GP's toy code) draws them:
 *  8gaussians : centre c uniform among scale*{(±1,0),(0,±1),(±1/√2,±1/√2)}, scale = 2;
 *               x = (c + 0.02*N(0,I)) / 1.414.
 *  25gaussians: centre (2i, 2j), i, j in -2..2; x = (centre + 0.05*N(0,I)) / 2.828. The paper builds a fixed
 *               set of 100000 points (4000 per centre), shuffles it once and cycles through it in order;
 *               eb_toy_dataset_init reproduces that set (n/25 per centre, shuffled), eb_toy_fill draws the
 *               centre uniformly per point (the same law; the paper's later DataLoader does this).
 *  swissroll  : sklearn make_swiss_roll(noise=0.25) columns [0, 2], divided by 7.5:
 *               t = 1.5π(1 + 2u), u ~ U[0,1);  (x, y, z) = (t cos t, 21 u', t sin t) + 0.25*N(0, I3);
 *               sample = (x, z) / 7.5  (the unused y is not drawn).
 * A fresh point takes three counters of the stream (toy_formula.h: a uniform for the centre or the roll
 * angle, two normals): a pure function of (seed, counter), the same on every backend (op toy_sample).
 * The kinds and constants live in toy_formula.h.
 * ------------------------------------------------------------------------------------------- */

#define EB_TOY_DIM 2
#define EB_TOY_MAX_MODES 25
#define EB_TOY_PAPER_25G_N 100000 /* size of the paper's fixed 25gaussians set */

/* 1 and *kind set when name is "8gaussians", "25gaussians" or "swissroll"; 0 otherwise (no error set). */
int eb_toy_from_name(const char *name, eb_toy_kind *kind);
const char *eb_toy_name(eb_toy_kind kind);

/* Fresh samples for one minibatch: x[n, 2] (row-major), float32. Allocates nothing. */
void eb_toy_fill(eb_toy_kind kind, eb_rng *rng, float *x, size_t n);

/* A materialised toy set of n rows (f32, shape [2, 1, 1], name = the toy's name), for evaluation or for the
 * paper's fixed 25gaussians set (n = EB_TOY_PAPER_25G_N; other kinds: eb_toy_fill of n rows). */
eb_status eb_toy_dataset_init(eb_dataset *ds, eb_toy_kind kind, int64_t n, eb_rng *rng);

/* The exact mode centres after normalisation (centres[2*k], centres[2*k+1]; room for EB_TOY_MAX_MODES)
 * and the per-coordinate std of each mode (8gaussians 0.02/1.414, 25gaussians 0.05/2.828).
 * Returns the number of modes (8, 25; 0 for swissroll, which has none). For mode-coverage evaluation:
 * a sample is high quality when within 3 std of a centre. */
int eb_toy_modes(eb_toy_kind kind, double *centres, double *mode_std);

/* ---------------------------------------------------------------------------------------------
 * .npy files (NumPy format v1.0 / 2.0 / 3.0). The reader accepts little-endian '<f4' (float32), '<i4'
 * (int32) and '|u1' (uint8), C order, rank 1..4; anything else is EB_ERR_FORMAT naming the file and the
 * field. The writer writes v1.0 atomically (temp file in the same directory, fsync, rename).
 * ------------------------------------------------------------------------------------------- */
typedef struct eb_npy {
    eb_dtype dtype;          /* EB_F32, EB_I32 or EB_U8 */
    int ndim;
    int64_t shape[EB_MAX_DIMS];
    void *data;              /* prod(shape) elements, host, owned */
} eb_npy;

eb_status eb_npy_read(eb_npy *arr, const char *path);
void eb_npy_free(eb_npy *arr);
/* dtype EB_F32, EB_I32 or EB_U8; 1 <= ndim <= 4; data holds prod(shape) elements. */
eb_status eb_npy_write(const char *path, eb_dtype dtype, int ndim, const int64_t *shape, const void *data);
/* A uint8 [n, c, h, w] .npy of pseudo-random pixels from `seed` (data_random.c): stand-in images of a preset's
 * shape for benchmarks, whose speed does not depend on what the pixels show. */
eb_status eb_npy_write_random_images(const char *path, int n, int c, int h, int w, uint32_t seed);

/* A dataset from .npy: float32 [N, D] (dense rows, shape [D, 1, 1]) or [N, C, H, W], used as stored;
 * uint8 [N, C, H, W] (images, kept uint8, normalised to [-1, 1] like every image set). */
eb_status eb_dataset_load_npy(eb_dataset *ds, const char *path);

/* ---------------------------------------------------------------------------------------------
 * IDX (MNIST / Fashion-MNIST), gzipped or plain (zlib reads both): images magic 0x00000803 (uint8 N x H x W,
 * dims big-endian), labels magic 0x00000801 (uint8 N). Sizes, truncation, trailing bytes, gzip integrity
 * and the label count are checked. labels_path may be NULL. Result: uint8, shape [1, H, W].
 * ------------------------------------------------------------------------------------------- */
eb_status eb_dataset_load_idx(eb_dataset *ds, const char *images_path, const char *labels_path);

/* ---------------------------------------------------------------------------------------------
 * CIFAR-10 binary batches: records of 1 label byte (0..9) + 3072 pixel bytes (CHW 3x32x32).
 * paths[0..n_paths): loaded in order. Each file must be a non-empty multiple of 3073 bytes.
 * ------------------------------------------------------------------------------------------- */
#define EB_CIFAR_RECORD_BYTES 3073
eb_status eb_dataset_load_cifar(eb_dataset *ds, const char *const *paths, int n_paths);

/* ---------------------------------------------------------------------------------------------
 * Stacking (the paper's StackedMNIST, data/mnist.py): n samples whose channel j is image idx_j of `src`
 * (a 1-channel uint8 set), idx_j uniform with replacement from `rng`; label = sum_j label_j * B^j with
 * B = src->n_classes (10 for (Fashion-)MNIST: 1000 classes for k = 3). The paper uses n = 128 * 10^k
 * (eb_stack_paper_n) such fixed stacks and then samples minibatches from them.
 * ------------------------------------------------------------------------------------------- */
int64_t eb_stack_paper_n(int k);
eb_status eb_dataset_stack(eb_dataset *out, const eb_dataset *src, int k, int64_t n, eb_rng *rng);

#endif
