"""`python -m taiga_tf.mc`: the first name of the TAIGA-IACT MC's command, kept so that
existing scripts work. The MC lives in taiga_tf.detectors.taiga_iact.mc."""
