/*
 * An LD_PRELOAD shim for the power-loss test: before each pwrite or pwritev to a file under
 * $UNDO_ROOT it appends the bytes about to be overwritten to $UNDO_LOG, and after each
 * successful fdatasync/fsync of such a file it appends a sync mark. Replaying the log
 * backwards from a SIGKILL gives the files as a power cut could have left them: every page
 * written since its file's last sync either reached the disk or did not.
 *
 * Record: u8 kind ('W' or 'S'), u64 seq, u16 path length, path, then for 'W' u64 offset,
 * u32 length, u64 old file size, and `length` old bytes (zeros past the old end); for 'S' the
 * seq is the first record the sync does NOT cover (writes logged after the sync began).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static ssize_t (*real_pwrite64)(int, const void *, size_t, off_t);
static ssize_t (*real_pwritev64)(int, const struct iovec *, int, off_t);
static int (*real_fdatasync)(int);
static int (*real_fsync)(int);
static int log_fd = -1;
static const char *root;
static size_t root_len;
static uint64_t next_seq;
/* Writes hold it shared from their log record to their end; a sync takes it exclusively to
 * read the sequence, so every write it claims to cover has completed before it starts. */
static pthread_rwlock_t writes = PTHREAD_RWLOCK_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init(void) {
    real_pwrite64 = dlsym(RTLD_NEXT, "pwrite64");
    real_pwritev64 = dlsym(RTLD_NEXT, "pwritev64");
    real_fdatasync = dlsym(RTLD_NEXT, "fdatasync");
    real_fsync = dlsym(RTLD_NEXT, "fsync");
    root = getenv("UNDO_ROOT");
    const char *path = getenv("UNDO_LOG");
    if (root && path) {
        root_len = strlen(root);
        log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    }
}

/* The path of a regular file under the root that fd names, or 0. */
static int tracked(int fd, char *path, size_t cap, struct stat *st) {
    pthread_once(&once, init);
    if (log_fd < 0 || fstat(fd, st) != 0 || !S_ISREG(st->st_mode)) return 0;
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, path, cap - 1);
    if (n <= 0) return 0;
    path[n] = 0;
    return (size_t)n > root_len && strncmp(path, root, root_len) == 0;
}

static void put(char **p, const void *src, size_t n) {
    memcpy(*p, src, n);
    *p += n;
}

static void append(const char *buf, size_t len) {
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(log_fd, buf + done, len - done);
        if (w <= 0) abort(); /* a lost undo record would make the test lie */
        done += (size_t)w;
    }
}

/* Logs the bytes [offset, offset+count) of a tracked file hold now and takes the write lock
 * shared; answers 1 when it did (the caller writes, then calls done()), 0 for other files. */
static int before_write(int fd, size_t count, off_t offset) {
    char path[PATH_MAX];
    struct stat st;
    pthread_once(&once, init);
    if (count == 0 || !tracked(fd, path, sizeof path, &st)) return 0;
    uint16_t plen = (uint16_t)strlen(path);
    uint64_t off = (uint64_t)offset, size = (uint64_t)st.st_size;
    uint32_t len = (uint32_t)count;
    size_t total = 1 + 8 + 2 + plen + 8 + 4 + 8 + count;
    char *rec = calloc(1, total);
    if (!rec) abort();
    char *p = rec;
    char kind = 'W';
    pthread_rwlock_rdlock(&writes);
    uint64_t seq = __atomic_fetch_add(&next_seq, 1, __ATOMIC_SEQ_CST);
    put(&p, &kind, 1);
    put(&p, &seq, 8);
    put(&p, &plen, 2);
    put(&p, path, plen);
    put(&p, &off, 8);
    put(&p, &len, 4);
    put(&p, &size, 8);
    /* The old bytes; what lies past the old end stays zero. */
    size_t have = 0;
    while (have < count) {
        ssize_t r = pread(fd, p + have, count - have, offset + (off_t)have);
        if (r <= 0) break;
        have += (size_t)r;
    }
    append(rec, total);
    free(rec);
    return 1;
}

static void done(void) {
    pthread_rwlock_unlock(&writes);
}

ssize_t pwrite64(int fd, const void *buf, size_t count, off_t offset) {
    int logged = before_write(fd, count, offset);
    ssize_t rc = real_pwrite64(fd, buf, count, offset);
    if (logged) done();
    return rc;
}

/* The appender writes a batch's records with one pwritev. */
ssize_t pwritev64(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
    size_t count = 0;
    for (int i = 0; i < iovcnt; i++) count += iov[i].iov_len;
    int logged = before_write(fd, count, offset);
    ssize_t rc = real_pwritev64(fd, iov, iovcnt, offset);
    if (logged) done();
    return rc;
}

ssize_t pwritev(int fd, const struct iovec *iov, int iovcnt, off_t offset) {
    return pwritev64(fd, iov, iovcnt, offset);
}

ssize_t pwrite(int fd, const void *buf, size_t count, off_t offset) {
    return pwrite64(fd, buf, count, offset);
}

static int synced(int fd, int (*real)(int)) {
    char path[PATH_MAX];
    struct stat st;
    pthread_once(&once, init);
    int is_tracked = tracked(fd, path, sizeof path, &st);
    pthread_rwlock_wrlock(&writes);
    uint64_t covers_below = __atomic_load_n(&next_seq, __ATOMIC_SEQ_CST);
    pthread_rwlock_unlock(&writes);
    int rc = real(fd);
    if (rc == 0 && is_tracked) {
        uint16_t plen = (uint16_t)strlen(path);
        char rec[1 + 8 + 2 + PATH_MAX];
        char *p = rec;
        char kind = 'S';
        put(&p, &kind, 1);
        put(&p, &covers_below, 8);
        put(&p, &plen, 2);
        put(&p, path, plen);
        append(rec, (size_t)(p - rec));
    }
    return rc;
}

int fdatasync(int fd) {
    pthread_once(&once, init);
    return synced(fd, real_fdatasync);
}

int fsync(int fd) {
    pthread_once(&once, init);
    return synced(fd, real_fsync);
}
