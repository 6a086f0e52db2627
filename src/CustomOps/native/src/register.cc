// The library's exported entry points:
//   RegisterCustomOps  every op: the paper's (com.onnxmemopt) and ONNX Runtime's training ops
//                      (com.microsoft), which the stock inference runtime lacks. A session config
//                      entry "onnxmemopt.ops" = "paper" set before registering narrows it to the
//                      paper's ops: hosts that can only name a library file (Python's
//                      SessionOptions.register_custom_ops_library) choose the subset that way.
//   RegisterPaperOps   the paper's ops alone, for hosts that already have the training kernels
//                      (ONNX Runtime Training builds, 1.19.2 the last): registering a second
//                      com.microsoft domain beside their built-in one would make every training op
//                      ambiguous.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>

#include "onnxmemopt/registry.h"

namespace onnxmemopt {

std::vector<OpRegistration>& RegisteredOps() {
  static std::vector<OpRegistration> ops;
  return ops;
}

inline constexpr uint32_t kRequiredOrtApiVersion = kOrtApiVersion;

namespace {

uint32_t loaded_runtime_api_version = kOrtApiVersion;

// "1.N.p" -> N. Probing GetApi(N) instead would make older runtimes print an error for every
// version they lack.
uint32_t ApiVersionOf(const char* version) {
  char* end = nullptr;
  const unsigned long major = std::strtoul(version, &end, 10);
  if (end == nullptr || *end != '.') return kOrtApiVersion;
  if (major > 1) return ORT_API_VERSION;  // a 2.x runtime has every API this library knows
  const unsigned long minor = std::strtoul(end + 1, nullptr, 10);
  return static_cast<uint32_t>(std::max<unsigned long>(minor, kOrtApiVersion));
}

// Which of the library's domains a registration adds.
enum class OpSet { kAll, kPaperOnly };

constexpr const char* kOpSetConfigKey = "onnxmemopt.ops";

// The subset a session's options ask for through kOpSetConfigKey (GetSessionConfigEntry is in API
// 14, below kOrtApiVersion); an unknown value is an error rather than a silent full registration.
OpSet RequestedOpSet(const OrtSessionOptions* options) {
  Ort::ConstSessionOptions session_options(options);
  if (!session_options.HasConfigEntry(kOpSetConfigKey)) return OpSet::kAll;
  const std::string value = session_options.GetConfigEntry(kOpSetConfigKey);
  if (value == "all") return OpSet::kAll;
  if (value == "paper") return OpSet::kPaperOnly;
  throw std::invalid_argument(std::string("libonnxmemopt_ops: session config '") + kOpSetConfigKey + "' is '" + value +
                              "'; expected 'all' or 'paper'");
}

struct LoadedDomains {
  std::vector<std::unique_ptr<OrtCustomOp>> ops;
  std::map<std::string, Ort::CustomOpDomain> domains;
};

// Created once, on the first registration, and deliberately never destroyed: sessions may outlive
// any scope we could tie them to, and ONNX Runtime holds raw pointers into them.
LoadedDomains& Domains() {
  static auto* loaded = new LoadedDomains();
  return *loaded;
}

}  // namespace

uint32_t RuntimeApiVersion() { return loaded_runtime_api_version; }

}  // namespace onnxmemopt

namespace onnxmemopt {
namespace {

// Registers the domains of `op_set` on `options`. A null OpSet reads it from the options' config.
OrtStatus* Register(OrtSessionOptions* options, const OrtApiBase* api_base, const OpSet* forced) {
  const OrtApi* api = api_base->GetApi(kRequiredOrtApiVersion);
  if (api == nullptr) {
    // Even the oldest API table can create a status, so report the mismatch through it.
    const OrtApi* oldest = api_base->GetApi(1);
    std::string message = std::string("libonnxmemopt_ops needs ONNX Runtime API version ") +
                          std::to_string(kRequiredOrtApiVersion) + " or newer; this runtime is " +
                          api_base->GetVersionString();
    return oldest != nullptr ? oldest->CreateStatus(ORT_NOT_IMPLEMENTED, message.c_str()) : nullptr;
  }
  Ort::InitApi(api);

  static std::mutex mutex;
  std::lock_guard<std::mutex> lock(mutex);
  loaded_runtime_api_version = ApiVersionOf(api_base->GetVersionString());
  try {
    const OpSet op_set = forced != nullptr ? *forced : RequestedOpSet(options);
    LoadedDomains& loaded = Domains();
    if (loaded.domains.empty()) {
      for (const OpRegistration& registration : RegisteredOps()) {
        auto found = loaded.domains.find(registration.domain);
        if (found == loaded.domains.end()) {
          found = loaded.domains.emplace(registration.domain, Ort::CustomOpDomain(registration.domain.c_str())).first;
        }
        loaded.ops.push_back(registration.factory());
        found->second.Add(loaded.ops.back().get());
      }
    }
    Ort::UnownedSessionOptions session_options(options);
    for (auto& entry : loaded.domains) {
      if (op_set == OpSet::kAll || entry.first == kOnnxMemOptDomain) {
        session_options.Add(entry.second);
      }
    }
  } catch (const Ort::Exception& e) {
    return Ort::Status(e).release();
  } catch (const std::exception& e) {
    return Ort::GetApi().CreateStatus(ORT_FAIL, e.what());
  }
  return nullptr;
}

}  // namespace
}  // namespace onnxmemopt

extern "C" __attribute__((visibility("default"))) OrtStatus* ORT_API_CALL
RegisterCustomOps(OrtSessionOptions* options, const OrtApiBase* api_base) {
  return onnxmemopt::Register(options, api_base, nullptr);
}

extern "C" __attribute__((visibility("default"))) OrtStatus* ORT_API_CALL
RegisterPaperOps(OrtSessionOptions* options, const OrtApiBase* api_base) {
  static constexpr onnxmemopt::OpSet kPaper = onnxmemopt::OpSet::kPaperOnly;
  return onnxmemopt::Register(options, api_base, &kPaper);
}
