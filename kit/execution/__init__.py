"""Executing studies: the runner (papermill runs in parallel, resumable, with manifests), the
manifests, and warm kernels forked from a zygote that imported the kit once. Science modules never
import this package."""
