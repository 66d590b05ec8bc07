// The names a transfer peer may use: a relative name split into safe components (nothing
// that escapes or confuses the directory, nothing a terminal would act on), the seeds'
// classic file_name cut to its last component, and the partial file an upload writes to.
#pragma once

#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace sockit::service {

/// A relative name from a peer ("a/b/c.txt") split into components, or transfer_errc::unsafe_name:
/// empty names or components, ".", "..", absolute paths, drive letters ("C:"), backslashes,
/// NUL and other control characters, invalid UTF-8, components over 255 bytes, and names
/// that look like sockit's partial files.
std::vector<std::string> split_safe_name(std::string_view name, std::error_code& ec);
bool is_safe_component(std::string_view c) noexcept;

/// The seeds' classic `file_name` may be a full path ("/a/b/c/d/e/a.txt", or Windows
/// "C:\\x\\a.txt"): only its last component is used, and it must be safe.
std::string classic_safe_name(std::string_view file_name, std::error_code& ec);

/// Where an unfinished upload of `base` lives, in the same directory: ".base.sockit-part".
/// A base too long for that within NAME_MAX (255 bytes: bases over 242) is shortened to its
/// first bytes (cut at a UTF-8 boundary), ":" and 32 hex digits of its SHA-256, so every
/// valid name has a partial, the same base always gets the same one, and no peer can make
/// two names share one.
std::string partial_name(std::string_view base);
bool is_partial_name(std::string_view name) noexcept;

}  // namespace sockit::service
