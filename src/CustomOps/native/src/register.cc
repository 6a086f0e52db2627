// RegisterCustomOps: the library's only exported symbol.
#include <algorithm>
#include <cstdlib>
#include <map>
#include <mutex>

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

extern "C" __attribute__((visibility("default"))) OrtStatus* ORT_API_CALL
RegisterCustomOps(OrtSessionOptions* options, const OrtApiBase* api_base) {
  using namespace onnxmemopt;
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
      session_options.Add(entry.second);
    }
  } catch (const Ort::Exception& e) {
    return Ort::Status(e).release();
  } catch (const std::exception& e) {
    return Ort::GetApi().CreateStatus(ORT_FAIL, e.what());
  }
  return nullptr;
}
