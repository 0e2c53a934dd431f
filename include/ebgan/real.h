/* The scalar type of every op and tensor buffer: float in the product, double in the
 * oracle build (EB_REAL_F64) that the gradient tests link against (finite differences in float64). */
#ifndef EBGAN_REAL_H
#define EBGAN_REAL_H

#ifdef EB_REAL_F64
typedef double eb_real;
#define EB_REAL_NAME "f64"
#define EB_REAL_EPS 2.220446049250313e-16
#else
typedef float eb_real;
#define EB_REAL_NAME "f32"
#define EB_REAL_EPS 1.1920929e-07f
#endif

#endif
