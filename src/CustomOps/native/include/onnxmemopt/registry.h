// Self-registration of custom ops: each op-family file declares its ops with
// ONNXMEMOPT_REGISTER_OP and never touches RegisterCustomOps. Factories run only after the
// OrtApi table is initialised, and the ops they create live for the rest of the process
// (ONNX Runtime keeps raw pointers to them in every session that registered the library).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "onnxruntime_cxx_api.h"

namespace onnxmemopt {

// Domain of the paper's ops (ReGelu2, MsLayerNorm, ...).
inline constexpr const char* kOnnxMemOptDomain = "com.onnxmemopt";
// Domain of ONNX Runtime's training ops, which the stock runtime lacks and this library provides.
inline constexpr const char* kMicrosoftDomain = "com.microsoft";

// The OrtApi table only grows, so the library asks for the oldest version that has every
// function it calls, and every op declares that version in OrtCustomOp::version (ONNX Runtime
// refuses ops whose version exceeds its own API). 17 has ComputeV2, optional/variadic I/O,
// output shape inference and KernelContext::ParallelFor; ONNX Runtime 1.17+ (Training 1.19.2
// included) therefore loads this library, and an older runtime gets a clear error.
inline constexpr uint32_t kOrtApiVersion = 17;

// The OrtApi version of the runtime that loaded the library (ONNX Runtime 1.N serves API N), set by
// RegisterCustomOps before any op is created. Ops use it to declare, only where the runtime has
// them, features newer than kOrtApiVersion (may-in-place outputs need 18).
uint32_t RuntimeApiVersion();

// Ops are created once and never deleted (ONNX Runtime keeps raw pointers to them), so the
// missing virtual destructor of OrtCustomOp never matters.
using OpFactory = std::function<std::unique_ptr<OrtCustomOp>()>;

struct OpRegistration {
  std::string domain;
  OpFactory factory;
};

std::vector<OpRegistration>& RegisteredOps();

struct OpRegistrar {
  OpRegistrar(const char* domain, OpFactory factory) {
    RegisteredOps().push_back({domain, std::move(factory)});
  }
};

}  // namespace onnxmemopt

#define ONNXMEMOPT_CONCAT_INNER(a, b) a##b
#define ONNXMEMOPT_CONCAT(a, b) ONNXMEMOPT_CONCAT_INNER(a, b)
// Usage: ONNXMEMOPT_REGISTER_OP(kOnnxMemOptDomain, [] { return std::make_unique<MyOp>(); });
#define ONNXMEMOPT_REGISTER_OP(domain, factory) \
  static ::onnxmemopt::OpRegistrar ONNXMEMOPT_CONCAT(onnxmemopt_registrar_, __COUNTER__)(domain, factory)
