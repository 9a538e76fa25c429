#include "child_process.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "limelight/error.hpp"

extern char** environ;

namespace limelight::bench {

ChildProcess::ChildProcess(const std::string& file, const std::vector<std::string>& args, bool pipe_input,
                           const std::string& who) {
  std::vector<std::string> owned(args);
  std::vector<char*> argv;
  for (std::string& a : owned) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Close-on-exec, so that neither this child nor a later one holds the other
  // ends open (a reader would then never see the end of its input).
  int to[2] = {-1, -1}, from[2] = {-1, -1};
  LL_CHECK(pipe2(from, O_CLOEXEC) == 0 && (!pipe_input || pipe2(to, O_CLOEXEC) == 0), who, "pipe failed: ",
           std::strerror(errno));
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (pipe_input) posix_spawn_file_actions_adddup2(&actions, to[0], STDIN_FILENO);
  posix_spawn_file_actions_adddup2(&actions, from[1], STDOUT_FILENO);
  const int rc = posix_spawnp(&pid_, file.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(from[1]);
  if (pipe_input) close(to[0]);
  in_ = to[1];
  out_ = from[0];
  if (rc != 0) {
    pid_ = -1;
    close_input();
    close(out_);
    out_ = -1;
    LL_CHECK(false, who, "cannot start a child process: ", std::strerror(rc));
  }
}

ChildProcess::~ChildProcess() {
  close_input();
  if (out_ >= 0) close(out_);
  int status = 0;
  if (pid_ > 0)
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
}

void ChildProcess::close_input() {
  if (in_ >= 0) close(in_);
  in_ = -1;
}

std::string ChildProcess::read_all() {
  std::string out;
  char buf[4096];
  ssize_t n = 0;
  while ((n = read(out_, buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
    if (n > 0) out.append(buf, static_cast<std::size_t>(n));
  return out;
}

int ChildProcess::finish() {
  close_input();
  read_all();
  close(out_);
  out_ = -1;
  int status = 0;
  while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
  return status;
}

}  // namespace limelight::bench
