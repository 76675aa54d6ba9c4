"""Pretraining methods by short name (docs/architecture.md, "Pretraining")."""
from hetrec.pretrain import kgat, rgcn

PRETRAIN = {"rgcn": rgcn.pretrain, "kgat": kgat.pretrain}
