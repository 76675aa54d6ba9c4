from hetrec.trainer.early_stop import EarlyStopping


def test_stops_after_patience_and_remembers_best():
    es = EarlyStopping(patience=2)
    flags = [es.step(v, e) for e, v in enumerate([0.1, 0.3, 0.2, 0.3, 0.25])]
    assert flags == [True, True, False, False, False]
    assert es.best == 0.3 and es.best_epoch == 1 and es.should_stop


def test_state_round_trip():
    es = EarlyStopping(patience=3)
    es.step(0.5, 0)
    es.step(0.4, 1)
    other = EarlyStopping(patience=3)
    other.load_state_dict(es.state_dict())
    assert other.state_dict() == es.state_dict()
