// unique_fd: closing, out of line so the header needs no <unistd.h>.
#include "sockit/net/unique_fd.hpp"

#include <unistd.h>

namespace sockit::net {

unique_fd& unique_fd::operator=(unique_fd&& o) noexcept {
  if (this != &o) reset(o.release());
  return *this;
}

void unique_fd::reset(int fd) noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

}  // namespace sockit::net
