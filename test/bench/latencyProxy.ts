import { createConnection, createServer, type Socket } from "node:net";

/**
 * A TCP proxy that holds each answer of the server behind it for a while, in a process of its own (the
 * bench runs its children synchronously): the claims measure behind it stands for a Table service a
 * network away, whose every round trip takes that long, where Azurite on this machine answers in no time.
 * Arguments: the port to forward to and the delay in milliseconds. Prints its port, then forwards until
 * it is killed. Data keeps its order: every piece waits the same delay, and timers of equal delay fire in
 * the order they were set.
 */
const [targetPort, delayMs] = process.argv.slice(2).map(Number) as [number, number];
const server = createServer((client: Socket) => {
  const upstream = createConnection({ host: "127.0.0.1", port: targetPort });
  client.on("data", (data) => upstream.write(data));
  upstream.on("data", (data) => setTimeout(() => client.write(data), delayMs));
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on("close", () => setTimeout(close, delayMs));
  upstream.on("close", () => setTimeout(close, delayMs));
  client.on("error", close);
  upstream.on("error", close);
});
server.listen(0, "127.0.0.1", () => {
  const address = server.address();
  console.log(JSON.stringify({ port: typeof address === "object" && address ? address.port : 0 }));
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
