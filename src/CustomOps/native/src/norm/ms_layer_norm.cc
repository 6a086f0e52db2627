// MsLayerNorm(X) -> Z, InvStdDev and MsLayerNormGrad(dZ, Z, InvStdDev) -> dX: layer normalisation
// without affine whose backward needs only its output (MS-LN).
// Domain com.onnxmemopt v1; float, float16, bfloat16; attributes axis (default -1) and epsilon
// (default 1e-5) on the forward op, axis on the gradient. The kernels live in ms_norm.h.
#include "ms_norm.h"

namespace onnxmemopt::norm {
namespace {

[[maybe_unused]] const bool kRegistered = RegisterNormFamily</*kCentred=*/true>("MsLayerNorm", "MsLayerNormGrad");

}  // namespace
}  // namespace onnxmemopt::norm
