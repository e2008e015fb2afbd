const queue = process.env.QUEUE ?? 'default';
console.log(`worker: consuming queue ${queue} (${process.env.APP_ENV ?? 'no environment'})`);
const timer = setInterval(() => console.log(`worker: queue ${queue} is empty`), 5000);

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    clearInterval(timer);
    process.exit(0);
  });
}
