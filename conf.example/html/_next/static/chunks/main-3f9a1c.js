/* A stand-in for a fingerprinted Next.js bundle. */
document.documentElement.dataset.neonpro = "ready";
