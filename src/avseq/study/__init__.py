"""Experiments that measure the recurrent networks themselves (`avseq study gradients`)."""
