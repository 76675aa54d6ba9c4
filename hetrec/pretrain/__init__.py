"""Pretraining methods by short name (docs/architecture.md, "Pretraining")."""
from hetrec.pretrain import kgat, ramgnn, rgcn

PRETRAIN = {"rgcn": rgcn.pretrain, "kgat": kgat.pretrain, "ramgnn": ramgnn.pretrain}
