"""Labs: comparisons that train several runs and report them side by side (``genzoo compare``):
every family on 2-D toys, EBM chain initializations, classifier vs JEM vs JEM++, GAN objectives."""
