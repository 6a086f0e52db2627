// MsRmsNorm(X) -> Z, InvStdDev and MsRmsNormGrad(dZ, Z, InvStdDev) -> dX: RMS normalisation
// without scale whose backward needs only its output (MS-RMSNorm).
// Domain com.onnxmemopt v1; float, float16, bfloat16; attributes axis (default -1) and epsilon
// (default 1e-5) on the forward op, axis on the gradient. The kernels live in ms_norm.h.
#include "ms_norm.h"

namespace onnxmemopt::norm {
namespace {

[[maybe_unused]] const bool kRegistered = RegisterNormFamily</*kCentred=*/false>("MsRmsNorm", "MsRmsNormGrad");

}  // namespace
}  // namespace onnxmemopt::norm
