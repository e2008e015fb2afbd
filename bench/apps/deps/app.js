// The app the build-cache benchmark changes at every revision (bench/run.js appends a line).
console.log('deps app');
