// The transfer error category: messages for sockit::service::transfer_errc values.
#include "sockit/service/transfer_error.hpp"

#include <string>

namespace sockit::service {
namespace {

class category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "sockit.transfer"; }
  std::string message(int value) const override {
    switch (static_cast<transfer_errc>(value)) {
      case transfer_errc::ok:
        return "success";
      case transfer_errc::hash_mismatch:
        return "hash mismatch";
      case transfer_errc::unsafe_name:
        return "unsafe file name";
      case transfer_errc::unsupported_version:
        return "unsupported protocol version";
      case transfer_errc::name_exists:
        return "file exists";
      case transfer_errc::name_busy:
        return "another upload of this name is in progress";
      case transfer_errc::not_found:
        return "no such file";
      case transfer_errc::no_space:
        return "not enough free space";
      case transfer_errc::not_regular_file:
        return "not a regular file";
      case transfer_errc::not_permitted:
        return "not permitted by the server's access mode";
    }
    return "unknown transfer error";
  }
};

}  // namespace

const std::error_category& transfer_category() noexcept {
  static const category instance;
  return instance;
}

}  // namespace sockit::service
