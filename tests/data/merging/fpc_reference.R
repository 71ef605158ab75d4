# fpc's mergenormals on the stored models (inputs from export_for_fpc.py): for each dataset
# and method, the score of every merge down to one cluster (numberstop = 1) and the number of
# clusters at fpc's default cutoff. Made with Debian's r-cran-fpc 2.2-10.
suppressMessages(library(fpc))
folder <- commandArgs(trailingOnly = TRUE)[1]
cat("dataset,method,n_clusters_at_cutoff,merge,score\n")
for (d in c("moons", "blobs", "circles", "anisotropic")) {
  read <- function(part) as.matrix(read.csv(file.path(folder, sprintf("%s_%s.csv", d, part)), header = FALSE))
  X <- read("X"); z <- read("z"); w <- as.vector(read("w")); mu <- t(read("mu")); S <- read("S")
  K <- length(w); p <- ncol(X)
  Sigma <- array(0, c(p, p, K))
  for (k in 1:K) Sigma[, , k] <- matrix(S[k, ], p, p, byrow = TRUE)
  clustering <- apply(z, 1, which.max)
  for (method in c("bhat", "ridge.ratio", "demp")) {
    args <- list(X, clustering = clustering, probs = w, muarray = mu, Sigmaarray = Sigma, z = z, method = method)
    stopped <- do.call(mergenormals, args)
    full <- do.call(mergenormals, c(args, numberstop = 1))
    for (m in seq_along(full$valuemerged)) {
      cat(sprintf("%s,%s,%d,%d,%.15g\n", d, method, length(stopped$clusternumbers), m, full$valuemerged[m]))
    }
  }
}
