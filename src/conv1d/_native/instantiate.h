/* Compile one kernel template once per dtype. The including .c file defines CONV1D_IMPL, the
 * template's file name as a string ("forward_impl.h"), and includes this header last. The
 * template sees, once for float and once for double:
 *   T   the element type          V   its vector type (kernels.h)
 *   IT  the integer of T's size   VI  its vector type, for lane masks
 *   LN  lanes per vector          NAME(f)  f with the suffix _f32 or _f64 (kernel names)
 */
#ifndef CONV1D_IMPL
#error "define CONV1D_IMPL (the kernel template's file name) before including instantiate.h"
#endif

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define NAME(f) CAT(f, SUFFIX)

#define T float
#define V vf32
#define IT int32_t
#define VI vi32
#define LN LANES_F32
#define SUFFIX f32
#include CONV1D_IMPL
#undef T
#undef V
#undef IT
#undef VI
#undef LN
#undef SUFFIX

#define T double
#define V vf64
#define IT int64_t
#define VI vi64
#define LN LANES_F64
#define SUFFIX f64
#include CONV1D_IMPL
