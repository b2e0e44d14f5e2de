"""Built-in real data: the shipped Debtags snapshot and MultiMNIST-LT composition."""
