// Ties a helper server's life to the process that started it: `cleanup` runs once, when
// stdin closes (the parent exited or dropped its handle) or on SIGTERM/SIGINT, then the
// process exits. `isStopping()` tells whether that has begun.

let stopping = false;

export function isStopping() {
  return stopping;
}

export function stopWithParent(cleanup) {
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await Promise.resolve(cleanup()).catch(() => {});
    process.exit(0);
  };
  process.stdin.on("end", stop);
  process.stdin.on("close", stop);
  process.stdin.resume();
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}
