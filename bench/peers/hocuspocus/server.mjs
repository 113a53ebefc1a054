// Hocuspocus peer for the Tandem benchmark: the documented server with its documented
// defaults (debounce 2 s / maxDebounce 10 s for onStoreDocument, flushDelay 0, gc on)
// and the SQLite extension as persistence: the full Yjs state of a document is
// upserted into one SQLite row (better-sqlite3) on the debounced onStoreDocument hook,
// i.e. at most every 2-10 s while it changes, and when its last client leaves. Updates
// are relayed before (and independently of) that write: nothing is durable per update.
//
//   node server.mjs PORT SQLITE_FILE
import { Server } from "@hocuspocus/server";
import { SQLite } from "@hocuspocus/extension-sqlite";

const port = Number(process.argv[2] || 1234);
const database = process.argv[3] || "hocuspocus.sqlite";

const server = new Server({
  address: "127.0.0.1",
  port,
  quiet: true,
  extensions: [new SQLite({ database })],
});

await server.listen();
console.log(`hocuspocus listening on 127.0.0.1:${port} (sqlite ${database})`);

const stop = async () => {
  try { await server.destroy(); } finally { process.exit(0); }
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
