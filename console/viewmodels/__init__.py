"""View-models: the console's state and behaviour as param.Parameterized classes, without widgets."""
