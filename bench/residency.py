#!/usr/bin/env python3
"""Report which pages of a bbolt file are in the RSS of a process.

    bench/residency.py PID DBFILE     pages of DBFILE mapped by process PID,
                                      summed by the bucket that owns them
    bench/residency.py --touch N DBFILE
                                      map DBFILE here, read one byte of N
                                      random pages, and print how much
                                      RssFile grew

The first form reads /proc/PID/maps to find the mapping of DBFILE and
/proc/PID/pagemap for the pages present in it, then walks the file's
B+trees from its newer valid meta page to name the bucket of each page.
Pages that no bucket reaches are free pages, which an earlier commit
used. Run it while the server still has the file open. The walk reads
the file as it is then, so a page freed since counts as free.

The second form shows how many pages the kernel maps for each page that
a process reads from a cached file.
"""

import collections
import mmap
import os
import random
import struct
import sys
import time

PAGE = os.sysconf("SC_PAGE_SIZE")
BRANCH, LEAF, META, FREELIST = 0x01, 0x02, 0x04, 0x10
BUCKET_LEAF = 0x01


def rss_file_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssFile:"):
                return int(line.split()[1])
    raise SystemExit("residency.py: RssFile missing from /proc/self/status")


def touch(n, path):
    size = os.path.getsize(path)
    if n < 1 or size < PAGE:
        raise SystemExit(f"residency.py: --touch needs N of at least 1 and a file of at least one page of {PAGE} bytes")
    with open(path, "rb") as f:
        while f.read(1 << 20):  # bring the whole file into the page cache
            pass
        m = mmap.mmap(f.fileno(), size, prot=mmap.PROT_READ)
        m.madvise(mmap.MADV_RANDOM)
        before = rss_file_kib()
        pages = random.sample(range(size // PAGE), min(n, size // PAGE))
        for p in pages:
            m[p * PAGE]
        grew = rss_file_kib() - before
    print(f"read 1 byte of {len(pages)} random pages of {size / 2**20:.1f} MiB: "
          f"RssFile grew {grew / 1024:.1f} MiB, {grew / len(pages):.1f} KiB per page read")


def fnv64a(b):
    h = 0xCBF29CE484222325
    for c in b:
        h = ((h ^ c) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def read_meta(data, offset):
    """Return the fields of the meta page at offset, or None if invalid."""
    fields = data[offset + 16:offset + 72]  # the meta fields before the checksum
    if len(fields) < 56 or struct.unpack_from("<Q", data, offset + 72)[0] != fnv64a(fields):
        return None
    magic, version, page_size = struct.unpack_from("<III", fields, 0)
    root, = struct.unpack_from("<Q", fields, 16)
    freelist, high, txid = struct.unpack_from("<QQQ", fields, 32)
    if magic != 0xED0CDAED or version != 2:
        return None
    return txid, page_size, root, freelist, high


def read_stable(path):
    """Return the bytes of the file at path, read again until no commit ended during the read.

    A commit of the server ends with a write of a meta page, and pages that
    only older commits use may be written over after it. So a read during
    which the meta pages changed can mix two states of the file.
    """
    for _ in range(50):
        with open(path, "rb") as f:
            data = f.read()
            first = read_meta(data, 0)
            head = min(len(data), 2 * (first[1] if first else 1 << 16))
            f.seek(0)
            again = f.read(head)
        if again == data[:head]:
            return data
        time.sleep(0.1)
    raise SystemExit(f"residency.py: {path}: the server committed during each of 50 reads of the file; "
                     "run it again when the server writes less")


def owners(path):
    """Map each page id of the bbolt file at path to its bucket's name."""
    data = read_stable(path)
    metas = [m for m in (read_meta(data, 0),) if m]
    for size in [metas[0][1]] if metas else [1 << k for k in range(9, 17)]:
        second = read_meta(data, size)
        if second:
            metas.append(second)
            break
    if not metas:
        raise SystemExit(f"residency.py: {path}: no valid bbolt meta page; is it a bbolt file?")
    _, page_size, root, freelist, high = max(metas)
    if page_size < 512 or page_size & (page_size - 1):
        raise SystemExit(f"residency.py: {path}: page size {page_size} is not a power of 2 of at least 512")
    if high < 3 or high * page_size > len(data):
        raise SystemExit(f"residency.py: {path}: the meta page counts {high} pages of {page_size} bytes, "
                         f"but the file has {len(data)} bytes, so it is cut short or damaged; run linkbolt check on it")

    owner = {}

    def damaged(reason):
        raise SystemExit(f"residency.py: {path}: {reason}, so the file is cut short or damaged; "
                         "run linkbolt check on it")

    def header(pid, element_size=16):
        """Return the flags, count and overflow of page pid, checked.

        Branch and leaf elements take 16 bytes. The freelist's elements are
        8-byte page ids, and there a count of 0xFFFF means that the first
        element is the real count.
        """
        if pid < 2 or pid >= high:
            damaged(f"a page id {pid} lies outside pages 2 to {high - 1}")
        if (pid + 1) * page_size > len(data):
            damaged(f"page {pid} lies past the end of the file ({len(data)} bytes)")
        _, flags, count, overflow = struct.unpack_from("<QHHI", data, pid * page_size)
        if pid + overflow >= high or (pid + overflow + 1) * page_size > len(data):
            damaged(f"page {pid} has {overflow} overflow pages, past the last page")
        elements = count
        if element_size == 8 and count == 0xFFFF:
            elements = 1 + struct.unpack_from("<Q", data, pid * page_size + 16)[0]
        if 16 + elements * element_size > (overflow + 1) * page_size:
            damaged(f"page {pid} has {elements} elements, more than it holds")
        return flags, count, overflow

    def walk(pid, name):
        if pid in owner:
            damaged(f"page {pid} is reached twice")
        flags, count, overflow = header(pid)
        if not flags & (BRANCH | LEAF):
            damaged(f"page {pid} of a bucket has type {flags:#x}, not a branch or a leaf")
        for i in range(overflow + 1):
            owner[pid + i] = name or "(root bucket)"
        end = (pid + overflow + 1) * page_size
        base = pid * page_size + 16
        for i in range(count):
            at = base + i * 16
            if flags & BRANCH:
                _, _, child = struct.unpack_from("<IIQ", data, at)
                walk(child, name)
            elif flags & LEAF:
                elem_flags, pos, ksize, vsize = struct.unpack_from("<IIII", data, at)
                if at + pos + ksize + vsize > end:
                    damaged(f"an element of page {pid} lies outside the page")
                if elem_flags & BUCKET_LEAF:
                    key = data[at + pos:at + pos + ksize].decode(errors="replace")
                    child, = struct.unpack_from("<Q", data, at + pos + ksize)
                    if child:  # 0 is an inline bucket, stored in this page
                        walk(child, key if name is None else f"{name}/{key}")

    owner[0] = owner[1] = "(meta pages)"
    if freelist < high:  # bbolt writes no freelist with NoFreelistSync
        flags, _, overflow = header(freelist, element_size=8)
        if flags != FREELIST:
            damaged(f"the freelist page {freelist} has type {flags:#x}, not a freelist")
        for i in range(overflow + 1):
            owner[freelist + i] = "(freelist)"
    walk(root, None)
    return owner, page_size, high


def mapping(pid, path):
    if not os.path.exists(f"/proc/{pid}"):
        raise SystemExit(f"residency.py: no process has the id {pid}")
    real = os.path.realpath(path)
    inode = os.stat(path).st_ino
    with open(f"/proc/{pid}/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and fields[5] == real:
                if int(fields[4]) != inode:
                    raise SystemExit(f"residency.py: process {pid} maps an earlier file at {real}, "
                                     "which was replaced since; restart the server or give the file it opened")
                start, end = (int(x, 16) for x in fields[0].split("-"))
                return start, end, int(fields[2], 16)
    raise SystemExit(f"residency.py: process {pid} has no mapping of {real}; is it the server that has the file open?")


def present(pid, start, end):
    n = (end - start) // PAGE
    with open(f"/proc/{pid}/pagemap", "rb") as f:
        f.seek(start // PAGE * 8)
        entries = f.read(n * 8)
    return [i for i in range(n) if struct.unpack_from("<Q", entries, i * 8)[0] >> 63]


def report(pid, path):
    start, end, offset = mapping(pid, path)
    resident = present(pid, start, end)
    owner, page_size, high = owners(path)
    total, held = collections.Counter(), collections.Counter()
    for page_id, name in owner.items():
        total[name] += page_size
    for i in resident:
        page_id = (offset + i * PAGE) // page_size
        if page_id in owner:
            name = owner[page_id]
        elif page_id < high:
            name = "(free pages)"
        else:
            name = "(after the last page)"
        held[name] += PAGE
    total["(free pages)"] = high * page_size - sum(total.values())
    # bbolt grows the file ahead of the pages that it uses.
    total["(after the last page)"] = max(0, os.path.getsize(path) - high * page_size)

    mib = 2**20
    print(f"{path}: {os.path.getsize(path) / mib:.1f} MiB, mapped {(end - start) / mib:.1f} MiB, "
          f"of which {len(resident) * PAGE / mib:.1f} MiB resident in process {pid}")
    print(f"{'bucket':<24} {'in file MiB':>12} {'resident MiB':>13}")
    for name in sorted(set(total) | set(held), key=lambda k: (-held[k], k)):
        print(f"{name:<24} {total[name] / mib:>12.1f} {held[name] / mib:>13.1f}")


def usage(reason):
    print(f"residency.py: {reason}\n\n{__doc__.strip()}", file=sys.stderr)
    sys.exit(2)


def main(args):
    if args in (["-h"], ["--help"]):
        print(__doc__.strip())
        return
    if len(args) == 3 and args[0] == "--touch":
        if not args[1].lstrip("-").isdigit():
            usage(f"--touch needs a number of pages, got {args[1]!r}")
        check_file(args[2])
        touch(int(args[1]), args[2])
    elif args and args[0] == "--touch":
        usage("--touch needs a number of pages and a file")
    elif len(args) == 2:
        if not args[0].isdigit():
            usage(f"the first argument must be a process id, got {args[0]!r}")
        check_file(args[1])
        report(int(args[0]), args[1])
    else:
        usage("give a process id and a database file, or --touch N and a file")


def check_file(path):
    if not os.path.exists(path):
        raise SystemExit(f"residency.py: {path}: no such file")
    if not os.path.isfile(path):
        raise SystemExit(f"residency.py: {path}: not a regular file")


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except RecursionError:
        raise SystemExit("residency.py: the B+tree nests too deep, so the file is damaged; run linkbolt check on it")
    except BrokenPipeError:
        # The reader of the output, such as head, stopped reading.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(0)
    except (OSError, ValueError, struct.error) as e:
        raise SystemExit(f"residency.py: {e}")
