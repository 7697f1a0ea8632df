/*
 * page-cache-shim: makes `kill -9` of redis-server behave like a power loss of its host, for the
 * durability tests.
 *
 * Killing a process loses nothing it has write()n: the kernel's page cache keeps it and writes it
 * out later. Only a crash of the host (power, kernel, VM) loses what was written but not yet
 * fsync'd, and that is what `appendfsync` decides. So a plain `kill -9` cannot tell `always` from
 * `everysec`. Loaded with LD_PRELOAD, this library keeps every write() to an append-only file
 * (`*.incr.aof`, the file Redis 7 appends each write to) in the process's own memory until Redis
 * calls fsync()/fdatasync() on it, exactly as the page cache of a host about to lose power would.
 * `kill -9` then loses what the host would lose.
 *
 * Only those files are affected; sockets, the RDB and AOF base files are written as usual.
 * Build: gcc -shared -fPIC -O2 -o page-cache-shim.so page-cache-shim.c -ldl -lpthread
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_FD 65536

struct pending {
  char *data;
  size_t len;
  size_t cap;
};

static struct pending *pending[MAX_FD];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static int (*real_open64)(const char *, int, ...);
static int (*real_open)(const char *, int, ...);
static ssize_t (*real_write)(int, const void *, size_t);
static int (*real_fsync)(int);
static int (*real_fdatasync)(int);
static int (*real_close)(int);

static void init(void) {
  if (real_write) return;
  real_open64 = dlsym(RTLD_NEXT, "open64");
  real_open = dlsym(RTLD_NEXT, "open");
  real_fsync = dlsym(RTLD_NEXT, "fsync");
  real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
  real_close = dlsym(RTLD_NEXT, "close");
  real_write = dlsym(RTLD_NEXT, "write");
}

static int is_incremental_aof(const char *path) {
  static const char suffix[] = ".incr.aof";
  size_t n = strlen(path), s = sizeof(suffix) - 1;
  return n >= s && strcmp(path + n - s, suffix) == 0;
}

static void track(int fd, const char *path) {
  if (fd < 0 || fd >= MAX_FD || !is_incremental_aof(path)) return;
  pthread_mutex_lock(&lock);
  if (!pending[fd]) pending[fd] = calloc(1, sizeof(struct pending));
  if (pending[fd]) pending[fd]->len = 0;
  pthread_mutex_unlock(&lock);
}

/* Writes what the "page cache" holds for fd to the file. Caller holds the lock. */
static int flush_locked(int fd) {
  struct pending *p = pending[fd];
  size_t done = 0;
  while (p && done < p->len) {
    ssize_t n = real_write(fd, p->data + done, p->len - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    done += (size_t)n;
  }
  if (p) p->len = 0;
  return 0;
}

static int open_with(int (*fn)(const char *, int, ...), const char *path, int flags, va_list ap) {
  mode_t mode = 0;
  if (flags & (O_CREAT | O_TMPFILE)) mode = (mode_t)va_arg(ap, int);
  int fd = fn(path, flags, mode);
  track(fd, path);
  return fd;
}

int open64(const char *path, int flags, ...) {
  init();
  va_list ap;
  va_start(ap, flags);
  int fd = open_with(real_open64, path, flags, ap);
  va_end(ap);
  return fd;
}

int open(const char *path, int flags, ...) {
  init();
  va_list ap;
  va_start(ap, flags);
  int fd = open_with(real_open, path, flags, ap);
  va_end(ap);
  return fd;
}

ssize_t write(int fd, const void *buf, size_t count) {
  init();
  if (fd >= 0 && fd < MAX_FD && pending[fd]) {
    pthread_mutex_lock(&lock);
    struct pending *p = pending[fd];
    if (p) {
      if (p->len + count > p->cap) {
        size_t cap = p->cap ? p->cap : 65536;
        while (cap < p->len + count) cap *= 2;
        char *data = realloc(p->data, cap);
        if (!data) {
          pthread_mutex_unlock(&lock);
          errno = ENOMEM;
          return -1;
        }
        p->data = data;
        p->cap = cap;
      }
      memcpy(p->data + p->len, buf, count);
      p->len += count;
      pthread_mutex_unlock(&lock);
      return (ssize_t)count;
    }
    pthread_mutex_unlock(&lock);
  }
  return real_write(fd, buf, count);
}

static int sync_with(int (*fn)(int), int fd) {
  if (fd >= 0 && fd < MAX_FD && pending[fd]) {
    pthread_mutex_lock(&lock);
    int rc = flush_locked(fd);
    pthread_mutex_unlock(&lock);
    if (rc != 0) return -1;
  }
  return fn(fd);
}

int fsync(int fd) {
  init();
  return sync_with(real_fsync, fd);
}

int fdatasync(int fd) {
  init();
  return sync_with(real_fdatasync, fd);
}

int close(int fd) {
  init();
  if (fd >= 0 && fd < MAX_FD && pending[fd]) {
    /* A closed file's data stays in the page cache: hand it to the kernel, then forget the fd. */
    pthread_mutex_lock(&lock);
    flush_locked(fd);
    free(pending[fd]->data);
    free(pending[fd]);
    pending[fd] = NULL;
    pthread_mutex_unlock(&lock);
  }
  return real_close(fd);
}
