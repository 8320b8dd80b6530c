# Fit-level reference for tests/analysis/test_small_area.py: run sae 1.3's own R code (files
# R/eblupFH.R and R/mseFH.R of the CRAN package sae 1.3, Molina and Marhuenda) on its milk data.
# sae itself cannot be installed here (it depends on lme4), but these two functions use base R
# only, so sourcing them gives exactly what eblupFH/mseFH print.
#
#   Rscript sae_reference.R SAE_SOURCE_DIR > milk_sae13_fit.csv
#
# SAE_SOURCE_DIR holds R/eblupFH.R, R/mseFH.R and data/milk.rda of sae 1.3.
args <- commandArgs(trailingOnly = TRUE)
source(file.path(args[1], "R", "eblupFH.R"))
source(file.path(args[1], "R", "mseFH.R"))
load(file.path(args[1], "data", "milk.rda"))
attach(milk)
rows <- NULL
for (method in c("REML", "ML", "FH")) {
  fit <- eblupFH(yi ~ as.factor(MajorArea), SD^2, method = method)$fit
  coef <- fit$estcoef
  rows <- rbind(rows, data.frame(
    method = method, iterations = fit$iterations, refvar = fit$refvar,
    loglike = fit$goodness[["loglike"]], AIC = fit$goodness[["AIC"]],
    BIC = fit$goodness[["BIC"]], term = rownames(coef), beta = coef$beta,
    std.error = coef$std.error))
}
write.csv(rows, stdout(), row.names = FALSE)
