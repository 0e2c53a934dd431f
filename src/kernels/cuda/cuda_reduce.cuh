/* Deterministic reductions for the CUDA kernels: block sums in double (warp shuffles, fixed tree) and a
 * one-launch grid finish that writes a device scalar. No float atomics: the order of every addition
 * depends only on the grid shape, so a result is bit-identical from run to run. */
#ifndef EBGAN_CUDA_REDUCE_CUH
#define EBGAN_CUDA_REDUCE_CUH

#include "cuda_ops.cuh"

__device__ __forceinline__ double eb_warp_sum(double v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    return v;
}

/* Sum of v over the block; the result is valid in thread 0 only. Every thread of the block must call it
 * (it synchronises); blockDim.x is a multiple of 32, at most 1024. */
__device__ __forceinline__ double eb_block_sum(double v) {
    __shared__ double s_warp[32];
    const int lane = threadIdx.x & 31, wid = threadIdx.x >> 5;
    v = eb_warp_sum(v);
    __syncthreads(); /* s_warp may still be read by a previous call */
    if (lane == 0) s_warp[wid] = v;
    __syncthreads();
    v = threadIdx.x < (blockDim.x >> 5) ? s_warp[threadIdx.x] : 0.0;
    if (wid == 0) v = eb_warp_sum(v);
    return v;
}

/* Sum of v over the block, returned to every thread. */
__device__ __forceinline__ double eb_block_sum_all(double v) {
    __shared__ double s_total;
    v = eb_block_sum(v);
    if (threadIdx.x == 0) s_total = v;
    __syncthreads();
    v = s_total;
    __syncthreads(); /* s_total is reused by the next call */
    return v;
}

/* Grid finish: each block hands in its partial (block-uniform call, `part` read from thread 0); the last
 * block to arrive sums the partials in block order and writes out = alpha * total + beta * out
 * (beta == 0: out is not read). The ticket counter is an integer atomic (exact) and is reset to 0 by the
 * last block, so consecutive launches on the stream (or in a graph) reuse it. */
__device__ __forceinline__ void eb_grid_finish(double part, double *partials, unsigned int *counter,
                                               eb_real *out, double alpha, eb_real beta) {
    __shared__ int s_last;
    if (threadIdx.x == 0) {
        partials[blockIdx.x] = part;
        __threadfence(); /* the partial is visible device-wide before the ticket is taken */
        const unsigned int ticket = atomicAdd(counter, 1u);
        s_last = (ticket == gridDim.x - 1);
    }
    __syncthreads();
    if (!s_last) return;
    __threadfence();
    double v = 0.0;
    for (unsigned int i = threadIdx.x; i < gridDim.x; i += blockDim.x) v += __ldcg(&partials[i]);
    v = eb_block_sum(v);
    if (threadIdx.x == 0) {
        double r = alpha * v;
        if (beta != (eb_real)0) r += (double)beta * (double)*out;
        *out = (eb_real)r;
        *counter = 0u;
    }
}

#endif
